// UserInputError lives in core/errors.ts (below every layer: the fast path's version check throws it too); engine
// code and the layers above keep importing it from here.
export { UserInputError } from '../core/errors.js';
