export { main, buildProgram, EXIT_USAGE, EXIT_FAILURE } from './main.js';
