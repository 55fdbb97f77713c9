//! AFL++ entry point of [`fluximage_fuzz::targets::sync_manifest`]; see `make fuzz`.
fn main() {
    fluximage_fuzz::run(fluximage_fuzz::targets::sync_manifest::check);
}
