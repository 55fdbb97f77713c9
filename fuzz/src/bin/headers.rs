//! AFL++ entry point of [`fluximage_fuzz::targets::headers`]; see `make fuzz`.
fn main() {
    fluximage_fuzz::run(fluximage_fuzz::targets::headers::check);
}
