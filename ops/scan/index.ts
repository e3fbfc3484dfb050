// The diagonal linear recurrence h_t = a_t ⊙ h_{t−1} + b_t (Mamba's selective scan, GLA's chunk carry).
export { scan, scanParallel } from './parallel.js';
export { scanNaive } from './naive.js';
