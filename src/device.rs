//! Finding the GPU. The binary links only libtorch_cpu, so that it runs where
//! no CUDA libraries are installed; libtorch_cuda, whose loading registers
//! CUDA with libtorch, is opened the first time a command asks for CUDA
//! (found through the binary's rpath, beside libtorch_cpu).
use std::sync::OnceLock;

/// Opens libtorch_cuda once; the error says why it could not be opened.
pub fn load_cuda() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            // SAFETY: dlopen with a constant NUL-terminated name; the handle
            // is kept for the life of the process, as libtorch expects.
            let handle = unsafe {
                libc::dlopen(
                    c"libtorch_cuda.so".as_ptr(),
                    libc::RTLD_NOW | libc::RTLD_GLOBAL,
                )
            };
            if !handle.is_null() {
                return Ok(());
            }
            // SAFETY: dlerror returns null or a NUL-terminated message.
            let reason = unsafe { libc::dlerror() };
            Err(if reason.is_null() {
                "libtorch_cuda.so could not be opened".into()
            } else {
                // SAFETY: checked non-null above; copied before any other dl call.
                unsafe { std::ffi::CStr::from_ptr(reason) }
                    .to_string_lossy()
                    .into_owned()
            })
        })
        .clone()
}

/// Whether libtorch can use a CUDA device here.
pub fn cuda_available() -> bool {
    load_cuda().is_ok() && tch::Cuda::is_available()
}
