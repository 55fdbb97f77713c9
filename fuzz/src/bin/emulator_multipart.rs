//! AFL++ entry point of [`fluximage_fuzz::targets::emulator_multipart`]; see `make fuzz`.
fn main() {
    fluximage_fuzz::run(fluximage_fuzz::targets::emulator_multipart::check);
}
