//! AFL++ entry point of [`fluximage_fuzz::targets::multipart_roundtrip`]; see `make fuzz`.
fn main() {
    fluximage_fuzz::run(fluximage_fuzz::targets::multipart_roundtrip::check);
}
