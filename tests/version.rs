//! Every place that states libtsdb's version agrees: Cargo.toml (as cargo and CMakeLists.txt
//! read it), `ts_version()`, the header's `TS_VERSION_*` macros, and the SONAME build.rs
//! gives the shared library (`libtsdb.so.MAJOR`), read back with `readelf -d` (binutils)
//! from the library cargo built for this test run.
use std::path::{Path, PathBuf};
use std::process::Command;

const MAJOR: &str = env!("CARGO_PKG_VERSION_MAJOR");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn cargo_toml_version_is_the_one_cmake_reads() {
    // CMakeLists.txt takes the first line matching ^version = "X.Y.Z" as the project
    // version (the SONAME, the installed file names, tsdbConfigVersion.cmake, tsdb.pc).
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let first = manifest
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("version = \"")?.strip_suffix('"')?;
            let numeric = rest.split('.').count() == 3
                && rest.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            numeric.then_some(rest)
        })
        .expect("Cargo.toml has no `version = \"X.Y.Z\"` line for CMakeLists.txt to read");
    assert_eq!(first, env!("CARGO_PKG_VERSION"));
}

#[test]
fn ts_version_and_header_macros_match_cargo_toml() {
    // SAFETY: ts_version returns a static NUL-terminated string.
    let lib = unsafe { std::ffi::CStr::from_ptr(tsdb::ffi::status::ts_version()) };
    assert_eq!(lib.to_str().unwrap(), env!("CARGO_PKG_VERSION"));

    let header = std::fs::read_to_string(root().join("include/tsdb.h")).unwrap();
    for (name, want) in [
        ("TS_VERSION_MAJOR", MAJOR),
        ("TS_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("TS_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define {name} {want}\n");
        assert!(header.contains(&line), "include/tsdb.h lacks `{}`", line.trim());
    }
}

/// target/<profile>/deps: this test runs as target/<profile>/deps/version-<hash>, and
/// `cargo test` builds every crate type of the library there (the cdylib too; only `cargo
/// build` copies it up to target/<profile>).
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    assert_eq!(deps.file_name().unwrap(), "deps", "unexpected test binary location {}", exe.display());
    deps.to_path_buf()
}

/// The dynamic section's SONAME of an ELF file, through `readelf -d`.
fn soname(path: &Path) -> Option<String> {
    let out = Command::new("readelf").arg("-d").arg(path).output().unwrap_or_else(|e| {
        panic!("cannot run readelf ({e}): install binutils (Debian/Ubuntu: apt-get install binutils)")
    });
    assert!(
        out.status.success(),
        "readelf -d {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().find(|line| line.contains("(SONAME)")).map(|line| {
        let start = line.find('[').expect("readelf prints the SONAME in brackets") + 1;
        let end = line.rfind(']').expect("readelf prints the SONAME in brackets");
        line[start..end].to_string()
    })
}

#[test]
#[cfg(all(unix, not(target_vendor = "apple")))]
fn shared_library_soname_is_libtsdb_so_major() {
    let deps = deps_dir();
    let lib = deps.join("libtsdb.so");
    assert!(lib.is_file(), "cargo did not build {} for this test run", lib.display());
    let want = format!("libtsdb.so.{MAJOR}");
    assert_eq!(soname(&lib).as_deref(), Some(want.as_str()), "SONAME of {}", lib.display());

    // build.rs also makes target/<profile>/libtsdb.so.MAJOR -> libtsdb.so, the name programs
    // linked against target/<profile>/libtsdb.so ask the loader for.
    let link = deps.parent().unwrap().join(&want);
    assert_eq!(
        std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display())),
        Path::new("libtsdb.so")
    );
}
