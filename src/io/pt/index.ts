/**
 * PyTorch `.pt` files in TypeScript: read torch.save's zip format through a restricted unpickler that runs
 * nothing, and write state dicts that torch.load(weights_only=True) accepts.
 */
export { type IntDType, IntTensor } from './int-tensor.js';
export { DEFAULT_PT_LIMITS, type PtLimits } from './limits.js';
export {
  type PtKey,
  type PtReadOptions,
  type PtTensor,
  type PtValue,
  readPt,
  readPtObject,
  readPtStateDict,
} from './read.js';
export { type PtWriteOptions, writePtStateDict } from './write.js';
