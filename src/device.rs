//! Where tensors live: [`DeviceName`] is what a user writes (`cpu`, `cuda`),
//! [`DeviceName::open`] the libtorch device, checked to be usable here.
//! The binary links only libtorch_cpu, so that it runs where no CUDA
//! libraries are installed; libtorch_cuda, whose loading registers CUDA with
//! libtorch, is opened the first time a command asks for CUDA (found through
//! the binary's rpath, beside libtorch_cpu).
//!
//! ```
//! use featurescope::device::DeviceName;
//! let device = "cpu".parse::<DeviceName>().unwrap().open().unwrap();
//! assert_eq!(device, tch::Device::Cpu);
//! assert!("gpu".parse::<DeviceName>().is_err());
//! ```
use std::str::FromStr;
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("device {name:?}: expected cpu or cuda")]
    Unknown { name: String },
    #[error("device cuda: libtorch's CUDA library does not load: {reason}")]
    CudaLibrary { reason: String },
    #[error("device cuda: libtorch sees no CUDA device on this machine")]
    NoCudaDevice,
}

/// A device as a user names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceName {
    #[default]
    Cpu,
    Cuda,
}

impl FromStr for DeviceName {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, DeviceError> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(DeviceError::Unknown { name: other.into() }),
        }
    }
}

impl DeviceName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        }
    }

    /// The libtorch device, or why it cannot be used here.
    pub fn open(self) -> Result<tch::Device, DeviceError> {
        match self {
            Self::Cpu => Ok(tch::Device::Cpu),
            Self::Cuda => {
                load_cuda()?;
                if tch::Cuda::is_available() {
                    Ok(tch::Device::Cuda(0))
                } else {
                    Err(DeviceError::NoCudaDevice)
                }
            }
        }
    }
}

/// Parses and opens a device name (`device = "cuda"` in a config file).
pub fn open(name: &str) -> Result<tch::Device, DeviceError> {
    name.parse::<DeviceName>()?.open()
}

/// Opens libtorch_cuda once; the error says why it could not be opened.
pub fn load_cuda() -> Result<(), DeviceError> {
    static LOADED: OnceLock<Result<(), DeviceError>> = OnceLock::new();
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
            Err(DeviceError::CudaLibrary {
                reason: if reason.is_null() {
                    "libtorch_cuda.so could not be opened".into()
                } else {
                    // SAFETY: checked non-null above; copied before any other dl call.
                    unsafe { std::ffi::CStr::from_ptr(reason) }
                        .to_string_lossy()
                        .into_owned()
                },
            })
        })
        .clone()
}
