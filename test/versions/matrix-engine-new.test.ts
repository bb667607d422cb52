/** Version matrix, engine path, sources 7.2, 7.4, valkey 8.0 (see matrix-cases.ts). */
import { matrixSuite } from './matrix-cases.js';
import { VERSIONS } from '../helpers/versions.js';

matrixSuite('version matrix: ferry run --sync engine, sources 7.2 7.4 valkey 8.0', [VERSIONS['7.2'], VERSIONS['7.4'], VERSIONS['valkey8.0']], 'engine');
