/**
 * PyTorch `.pt` files in TypeScript: read torch.save's zip format through a restricted unpickler that runs
 * nothing, and write state dicts that torch.load(weights_only=True) accepts.
 */
export { type IntDType, IntTensor } from '../../int-tensor.js';
export { DEFAULT_PT_LIMITS, type PtLimits } from './limits.js';
export {
  COMMON_STATE_DICT_KEYS,
  type PtKey,
  type PtReadOptions,
  type PtSelection,
  type PtStateDictSource,
  type PtTensor,
  type PtValue,
  readPt,
  readPtObject,
  readPtSelection,
  readPtStateDict,
} from './read.js';
export { type PtWriteOptions, writePtStateDict } from './write.js';
