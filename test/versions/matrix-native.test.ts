/** Version matrix, native path (REPLICAOF), every pair whose target reads the source's RDB (see matrix-cases.ts). */
import { matrixSuite } from './matrix-cases.js';
import { MATRIX_SOURCES } from '../helpers/versions.js';

matrixSuite('version matrix: ferry run --sync native', MATRIX_SOURCES, 'native');
