//! Browser entry point of the QuantLens UI (built by Trunk with the `web` feature).

fn main() {
    quantlens::ui::run();
}
