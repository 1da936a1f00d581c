//! Kuma's e2e sidecar goldens (`test/e2e_env/universal/envoyconfig/testdata/sidecars`
//! in `../shared/conformance/kuma-v2.14.3`) against the Envoy config meshc compiles.
//!
//! Each `<policy>/<case>.input.yaml` is applied to a fixed world (`world.yaml`,
//! reconstructed from the goldens); `<case>.<proxy>.golden.json` holds Kuma's
//! config of that proxy (`xds`) and a JSON patch (`diff`) against the config
//! without the policy. For each case and each of the two proxies, meshc compiles
//! the world plus the case's policies, its bootstrap is put in the goldens' shape
//! (`xds.rs`), and the values at the paths the diff touches are compared
//! (`compare.rs`); `no-policies` cases compare a fixed set of policy fields. A case
//! matches when every compared value is equal for both proxies.
//!
//! Each policy folder is one test. It prints `matched/total`, every mismatch
//! (case, proxy, path, want, got) and a to-do summary of the failing paths, and
//! fails when fewer cases match than `baseline.txt` records (record a better count
//! with `MESHC_BLESS=1`). `CONFORMANCE-section.md` describes the method.

#[path = "../common/mod.rs"]
mod common;

mod compare;
mod report;
mod run;
mod xds;

macro_rules! policy_folders {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run::folder(stringify!($name));
            }
        )*
    };
}

policy_folders!(
    meshaccesslog,
    meshcircuitbreaker,
    meshfaultinjection,
    meshloadbalancingstrategy,
    meshmetric,
    meshratelimit,
    meshretry,
    meshtimeout,
    meshtls,
    meshtrafficpermission,
);

/// Every policy folder of the fixtures has a test above (a new folder in a newer
/// Kuma must not go unnoticed).
#[test]
fn every_folder_is_tested() {
    let known = [
        "meshaccesslog",
        "meshcircuitbreaker",
        "meshfaultinjection",
        "meshloadbalancingstrategy",
        "meshmetric",
        "meshratelimit",
        "meshretry",
        "meshtimeout",
        "meshtls",
        "meshtrafficpermission",
    ];
    let mut found: Vec<String> = std::fs::read_dir(run::sidecars())
        .unwrap_or_else(|e| panic!("{}: {e}", run::sidecars().display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    found.sort();
    assert_eq!(found, known, "add a test per policy folder in tests/envoy_conformance/main.rs");
}
