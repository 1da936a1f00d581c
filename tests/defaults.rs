//! Kuma applies its CRD schema defaults on admission; meshc applies the same ones
//! while reading, so later stages see what Kuma would store.

use meshc::validate::{self, Options};

#[test]
fn schema_defaults_are_applied_as_kuma_applies_them() {
    let text = "\
type: MeshExternalService
name: api
mesh: default
spec:
  match:
    port: 443
  endpoints: [{address: api.example.com, port: 443}]
  tls:
    enabled: true
    verification: {}
---
type: MeshExternalService
name: bare
mesh: default
spec:
  match:
    port: 80
  endpoints: [{address: 10.1.1.1, port: 80}]
---
type: MeshPassthrough
name: pass
mesh: default
spec:
  default:
    passthroughMode: Matched
    appendMatch:
      - type: IP
        value: 10.0.0.1
---
type: MeshMetric
name: metrics
mesh: default
spec:
  default:
    backends:
      - type: Prometheus
        prometheus: {}
";
    let outcome = validate::run_texts(vec![("d.yaml".into(), text.into())], &Options::default());
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    let spec = |name: &str| {
        let r = outcome.resources.iter().find(|r| r.meta.name == name).unwrap();
        r.spec.as_ref().unwrap().to_json()
    };
    let mes = spec("api");
    assert_eq!(mes["match"]["type"], "HostnameGenerator");
    assert_eq!(mes["match"]["protocol"], "tcp");
    assert_eq!(mes["tls"]["verification"]["mode"], "Secured");
    // As with Kubernetes structural defaulting, a default applies inside an object
    // that is present; an absent `tls` stays absent.
    assert!(spec("bare").get("tls").is_none());
    assert_eq!(spec("pass")["default"]["appendMatch"][0]["protocol"], "tcp");
    let prom = &spec("metrics")["default"]["backends"][0]["prometheus"];
    assert_eq!((prom["port"].as_i64(), prom["path"].as_str()), (Some(5670), Some("/metrics")));
}
