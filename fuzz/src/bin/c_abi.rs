//! AFL++ entry point of [`fluximage_fuzz::targets::c_abi`]; see `make fuzz`.
fn main() {
    fluximage_fuzz::run(fluximage_fuzz::targets::c_abi::check);
}
