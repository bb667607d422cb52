/** Version matrix, engine path, sources 5.0, 6.2, 7.0 (see matrix-cases.ts). */
import { matrixSuite } from './matrix-cases.js';
import { VERSIONS } from '../helpers/versions.js';

matrixSuite('version matrix: ferry run --sync engine, sources 5.0 6.2 7.0', [VERSIONS['5.0'], VERSIONS['6.2'], VERSIONS['7.0']], 'engine');
