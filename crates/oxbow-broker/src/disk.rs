//! The file system under the log directory: its size and free space (DescribeLogDirs v4,
//! `/metrics`, the disk-free alert rule).

use std::path::Path;

/// Total and available bytes of the file system holding `dir`.
pub fn disk_space(dir: &Path) -> std::io::Result<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a properly sized out-parameter.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = stat.f_frsize as u128;
    let total = (stat.f_blocks as u128).saturating_mul(frsize);
    let usable = (stat.f_bavail as u128).saturating_mul(frsize);
    let clamp = |v: u128| i64::try_from(v).unwrap_or(i64::MAX);
    Ok((clamp(total), clamp(usable)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_existing_dir_when_measuring_should_report_space() {
        let (total, usable) = disk_space(Path::new("/")).unwrap();
        assert!(total > 0 && usable >= 0 && usable <= total);
    }
}
