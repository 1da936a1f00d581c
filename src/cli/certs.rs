//! `meshc certs [PATH...] --out SECRETS_DIR`.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::input::InputArgs;
use super::{Color, exit};
use crate::certs::{self, Options as CertOptions};
use crate::findings::render::{self, Format, TextOptions};
use crate::findings::{Level, Report, codes};
use crate::validate;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc certs --out secrets/                  # everything under the current directory
  meshc certs mesh.yaml dataplanes/ --out /etc/meshc/secrets
  meshc certs --out secrets/ --validity 720h  # 30-day leaves instead of the backend's setting
  meshc certs --out secrets/ --format json | jq .issued

For every Mesh with mtls.enabledBackend set, the enabled backend is the CA:
  builtin   a CA (ECDSA P-256, 10 years) is created in SECRETS_DIR/meshes/<mesh>/
            the first time and reused by every later run;
  provided  conf.cert and conf.key are read ({file: PATH} relative to the current
            directory, {inline: BASE64} or {inlineString: PEM}; Kubernetes
            {secret: NAME} cannot be read offline).
Every sidecar Dataplane of such a mesh gets SECRETS_DIR/proxies/<mesh>/[<zone>/]<name>/
cert.pem, key.pem (0600) and identity.sds.yaml; each mesh gets ca.pem and
ca.sds.yaml. A MeshExternalService client key written inline (clientKey.inline or
inlineString) goes to SECRETS_DIR/meshes/<mesh>/inline-keys/<sha256>.pem (0600):
compile output names that file and never holds the key. The URI SANs are spiffe://<mesh>/<service> and kuma://<tag>/<value>
for the inbound tags, as Kuma's RBAC principals expect.

Reruns are idempotent: a certificate that is signed by the current CA, has the
wanted SANs and more than a third of its validity left is kept. Input is
validated first, as `meshc validate` does; if there are errors they are printed
and nothing is written. Keys and certificates are never printed.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,

    /// The secrets directory to write (created 0700 if missing).
    #[arg(long, value_name = "SECRETS_DIR")]
    pub out: PathBuf,

    /// Lifetime of newly issued leaves (`24h`, `720h`, `30d`, `1y`), overriding
    /// every backend's dpCert.rotation.expiration (default there: 365 days).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub validity: Option<i64>,

    /// `text`: the summary line on stderr. `json`: also the summary as JSON on
    /// stdout (nothing on stdout when the run fails).
    #[arg(long, short, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,

    /// Only print errors and the summary line (no warning count).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

fn parse_duration(s: &str) -> Result<i64, String> {
    certs::parse_validity(s).ok_or_else(|| format!("{s:?} is not a positive duration such as 24h, 720h, 30d or 1y"))
}

pub fn run(args: Args, color: Color) -> i32 {
    args.input.apply_jobs();
    let outcome = validate::run(&args.input.paths, &args.input.options());
    let blocked = outcome.unreadable || outcome.findings.iter().any(|f| f.level >= Level::Error);
    if blocked {
        let report = Report { findings: &outcome.findings, files: &outcome.files, resources: &outcome.resources };
        let text = TextOptions { color: color.enabled(), quiet: false, concise: false };
        let stderr = std::io::stderr();
        let mut err = stderr.lock();
        let _ = render::write(Format::Text, &report, &text, &mut std::io::sink(), &mut err);
        let _ = writeln!(err, "certs: the input has errors; nothing was written to {}", args.out.display());
        let internal = outcome.findings.iter().any(|f| f.code == codes::INTERNAL);
        return if outcome.unreadable || internal { exit::UNREADABLE } else { exit::FINDINGS };
    }
    let warnings = outcome.findings.iter().filter(|f| f.level == Level::Warning).count();
    if warnings > 0 && !args.quiet {
        eprintln!(
            "certs: the input has {warnings} warning{} (see `meshc validate`)",
            if warnings == 1 { "" } else { "s" }
        );
    }
    let cert_opts = CertOptions { out: args.out.clone(), validity_secs: args.validity };
    match certs::run(&outcome.resources, &cert_opts) {
        Ok(summary) => {
            eprintln!("{}", summary.line());
            if args.format == SummaryFormat::Json {
                match serde_json::to_string_pretty(&summary) {
                    Ok(json) => println!("{json}"),
                    Err(_) => return exit::UNREADABLE,
                }
            }
            exit::CLEAN
        }
        Err(failure) => {
            for m in &failure.messages {
                eprintln!("error: {m}");
            }
            eprintln!("certs: stopped; see the errors above");
            if failure.io { exit::UNREADABLE } else { exit::FINDINGS }
        }
    }
}
