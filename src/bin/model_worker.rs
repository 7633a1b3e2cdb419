//! Browser entry point of the model runner's web worker (its own wasm, built by Trunk as a second worker and loaded only when a model is run).

fn main() {
    quantlens::model_worker::start();
}
