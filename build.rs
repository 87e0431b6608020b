//! Build script: gives the shared library its SONAME, `libtsdb.so.MAJOR` (`libtsdb.so.0`
//! for every 0.x release), and puts the matching link next to it in the target directory.
//!
//! With a SONAME, a program linked with `-ltsdb` records the ABI it was built against
//! (`NEEDED libtsdb.so.0`) rather than the development name `libtsdb.so`, so a later
//! `libtsdb.so.1` can be installed beside it. `cmake --install` lays the library out as
//! `lib/libtsdb.so.X.Y.Z` with the links `libtsdb.so.MAJOR -> libtsdb.so.X.Y.Z` and
//! `libtsdb.so -> libtsdb.so.MAJOR` (see CMakeLists.txt); `tests/version.rs` checks the
//! SONAME of the library cargo builds.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");

    // -soname is an ELF linker flag; Apple's ld names a dylib with -install_name instead
    // and Windows DLLs have no equivalent, so those keep cargo's defaults.
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let vendor = std::env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    if !family.split(',').any(|f| f == "unix") || vendor == "apple" {
        return;
    }

    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
    let soname = format!("libtsdb.so.{major}");
    // Applies to the cdylib only: the rlib and staticlib are not linked by rustc.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");

    // A program linked against target/<profile>/libtsdb.so now asks the loader for
    // libtsdb.so.0, so `-L target/release -ltsdb` plus an rpath or LD_LIBRARY_PATH pointing
    // there (how the C examples and the bindings' tests use a cargo build) needs
    // target/<profile>/libtsdb.so.0 to exist. Build scripts should write only to OUT_DIR;
    // this one link in the profile directory is the exception, made because without it
    // `cargo build` would leave a library its own linked programs cannot load.
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    match profile_dir(&out_dir) {
        Some(dir) => link_soname(&dir, &soname),
        None => println!(
            "cargo:warning=unexpected OUT_DIR layout ({}): not creating {soname} next to libtsdb.so",
            out_dir.display()
        ),
    }
}

/// `<target-dir>/<profile>` from `OUT_DIR` = `<target-dir>/<profile>/build/tsdb-<hash>/out`.
fn profile_dir(out_dir: &Path) -> Option<PathBuf> {
    let pkg_dir = out_dir.parent()?;
    let build_dir = pkg_dir.parent()?;
    let expected = out_dir.file_name()? == "out"
        && pkg_dir.file_name()?.to_str()?.starts_with("tsdb-")
        && build_dir.file_name()? == "build";
    if !expected {
        return None;
    }
    build_dir.parent().map(Path::to_path_buf)
}

/// Make `dir/soname` a symlink to `libtsdb.so` (which cargo writes there after this script).
fn link_soname(dir: &Path, soname: &str) {
    let link = dir.join(soname);
    if std::fs::read_link(&link).is_ok_and(|target| target == Path::new("libtsdb.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("libtsdb.so", &link) {
        println!("cargo:warning=cannot create {}: {e}", link.display());
    }
}
