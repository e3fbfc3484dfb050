// Tensors saved for the backward pass as views (lever `savedViews`). tfjs's engine keeps every tensor a gradient
// will need by Engine.clone, which runs the Identity kernel through the whole of runKernel — kernel lookup, the
// memory-leak and profiling bookkeeping, a scope — for what, on webgpu, is a reference count and a new Tensor on the
// same data (tfjs-backend-webgpu's Identity: incRef, same dataId). A host-bound step runs it for every saved input and
// output: 65 times a step for zoology-fig2's attention, 212 for RWKV-7 (tf.profile's Identity count), each tens of
// microseconds of the host time those steps are made of. Here the clone is that reference count and Tensor directly,
// with the same tape node tfjs adds (its gradient a Cast of dy), so backprop sees the same graph and the same bits;
// another backend (wasm's Identity copies), or a tensor on another backend than the engine's, takes tfjs's own path.
import * as tf from '@tensorflow/tfjs';

/** What of tfjs's Engine this uses (tfjs-core dist/engine.js, 4.22): clone, the tensor registry, the tape. */
interface EngineInternals {
  clone(x: tf.Tensor): tf.Tensor;
  backend: { incRef(dataId: object): void };
  state: { tensorInfo: Map<object, { backend: unknown }>; activeScope: { name: string } };
  makeTensorFromTensorInfo(info: { dataId: object; shape: number[]; dtype: tf.DataType }, backend: unknown): tf.Tensor;
  addTapeNode(kernelName: string, inputs: Record<string, tf.Tensor>, outputs: tf.Tensor[], gradient: (dy: tf.Tensor) => Record<string, () => tf.Tensor>, saved: tf.Tensor[], attrs: object): void;
}

/** Engine.clone as a view: x's data, one more reference; the tape node Engine.clone adds. */
function viewClone(this: EngineInternals, x: tf.Tensor): tf.Tensor {
  const backend = this.backend;
  // webgpu's Identity is the reference count (wasm's copies: other backends keep tfjs's own path)
  if (tf.getBackend() !== 'webgpu' || this.state.tensorInfo.get(x.dataId)?.backend !== backend) return Object.getPrototypeOf(this).clone.call(this, x);
  backend.incRef(x.dataId);
  const y = this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, backend);
  this.addTapeNode(this.state.activeScope.name, { x }, [y], (dy) => ({ x: () => tf.cast(dy, 'float32') }), [], {});
  return y;
}

/** Lever `savedViews`: on, the engine's clone is viewClone (an own property over the prototype's); off, tfjs's. */
export function setSavedViews(on: boolean): void {
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  if (on) engine.clone = viewClone;
  else delete engine.clone;
}
