//! Browser entry point of the analysis web worker (built by Trunk as `data-type="worker"`).

fn main() {
    quantlens::worker::start();
}
