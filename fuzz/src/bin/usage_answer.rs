//! AFL++ entry point of [`fluximage_fuzz::targets::usage_answer`]; see `make fuzz`.
fn main() {
    fluximage_fuzz::run(fluximage_fuzz::targets::usage_answer::check);
}
