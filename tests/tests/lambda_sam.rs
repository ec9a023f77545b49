//! The SAM stack (`sam/template.yaml`): `sam validate --lint` and `cfn-lint` accept it (offline),
//! its header mappings are exactly the config's headers under their context keys, it keeps the
//! properties the design relies on, and `sam build` (run by `make lambda`) produced an arm64
//! `bootstrap`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use certprop::Config;
use certprop_tests::repo_root;
use serde_yaml_ng::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("sam/template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn venv_tool(name: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(name);
    assert!(path.exists(), "{} is missing: install the SAM tools with `make sam-tools`", path.display());
    path
}

fn run(command: &mut Command) -> String {
    let output = command.env("SAM_CLI_TELEMETRY", "0").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}

#[test]
fn sam_validate_lint_accepts_the_template() {
    let out = run(Command::new(venv_tool("sam"))
        .args(["validate", "--lint", "--region", "us-east-1"])
        .current_dir(repo_root().join("sam")));
    assert!(out.contains("is a valid SAM Template"), "{out}");
}

#[test]
fn cfn_lint_accepts_the_template() {
    run(Command::new(venv_tool("cfn-lint")).arg("template.yaml").current_dir(repo_root().join("sam")));
}

/// `(header, "context.authorizer.<key>")` for every header a config sets.
fn config_mappings(config: &str) -> BTreeSet<(String, String)> {
    Config::from_json(config)
        .unwrap()
        .headers()
        .iter()
        .map(|h| (h.name.clone(), format!("context.authorizer.{}", h.context_key())))
        .collect()
}

#[test]
fn every_method_maps_exactly_the_configs_headers_from_the_authorizer_context() {
    let template = template();
    let default_config = template["Parameters"]["CertpropConfig"]["Default"].as_str().unwrap();
    // One config for both edges: the stack's default is the config the Envoy filter ships with.
    let shipped = std::fs::read_to_string(repo_root().join("envoy/certprop.json")).unwrap();
    assert_eq!(Config::from_json(default_config).unwrap(), Config::from_json(&shipped).unwrap());
    let expected = config_mappings(default_config);
    assert_eq!(expected.len(), 3, "{expected:?}");

    let paths = template["Resources"]["Api"]["Properties"]["DefinitionBody"]["paths"].as_mapping().unwrap();
    assert_eq!(paths.len(), 2, "the root and the proxy path");
    for (path, methods) in paths {
        for (method, operation) in methods.as_mapping().unwrap() {
            let integration = &operation["x-amazon-apigateway-integration"];
            assert_eq!(integration["type"].as_str(), Some("http_proxy"), "{path:?} {method:?}");
            let mapped: BTreeSet<(String, String)> = integration["requestParameters"]
                .as_mapping()
                .unwrap()
                .iter()
                .filter_map(|(target, source)| {
                    let header = target.as_str()?.strip_prefix("integration.request.header.")?;
                    Some((header.to_owned(), source.as_str()?.to_owned()))
                })
                .collect();
            assert_eq!(mapped, expected, "{path:?} {method:?}: header mappings against the config's headers");
            assert_eq!(operation["security"][0]["certprop"], Value::Sequence(vec![]), "{path:?} {method:?}: authorizer");
        }
    }
}

fn tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((tagged.tag.to_string(), &tagged.value)),
        _ => None,
    }
}

#[test]
fn the_stack_keeps_what_the_design_relies_on() {
    let template = template();
    let resources = &template["Resources"];

    let api = &resources["Api"]["Properties"];
    assert_eq!(api["DisableExecuteApiEndpoint"].as_bool(), Some(true), "clients could skip mTLS");
    let authorizer = &api["DefinitionBody"]["components"]["securitySchemes"]["certprop"]["x-amazon-apigateway-authorizer"];
    assert_eq!(authorizer["type"].as_str(), Some("request"));
    assert_eq!(authorizer["authorizerResultTtlInSeconds"].as_u64(), Some(0), "caching off");
    assert!(authorizer.get("identitySource").is_none(), "an identity source would answer 401 before the authorizer runs");

    let domain = &resources["ApiDomainName"]["Properties"];
    let mtls = &domain["MutualTlsAuthentication"];
    assert_eq!(tagged(&mtls["TruststoreUri"]).map(|(t, v)| (t, v.as_str())), Some(("!Ref".into(), Some("TruststoreUri"))));
    assert_eq!(domain["SecurityPolicy"].as_str(), Some("TLS_1_2"));
    assert_eq!(domain["EndpointConfiguration"]["Types"][0].as_str(), Some("REGIONAL"));
    assert_eq!(tagged(&resources["ApiBasePathMapping"]["Properties"]["DomainName"]).map(|(t, _)| t), Some("!Ref".into()));

    let function = &resources["AuthorizerFunction"];
    assert_eq!(function["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"));
    assert_eq!(function["Metadata"]["BuildProperties"]["Binary"].as_str(), Some("certprop-authorizer"));
    let properties = &function["Properties"];
    assert_eq!(properties["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(properties["Handler"].as_str(), Some("bootstrap"));
    assert_eq!(properties["Architectures"][0].as_str(), Some("arm64"));
    let config = tagged(&properties["Environment"]["Variables"]["CERTPROP_CONFIG"]);
    assert_eq!(config.map(|(t, v)| (t, v.as_str())), Some(("!Ref".into(), Some("CertpropConfig"))));

    for parameter in ["DomainName", "CertificateArn", "TruststoreUri", "BackendUrl", "CertpropConfig"] {
        assert!(template["Parameters"].get(parameter).is_some(), "parameter {parameter}");
    }
    for output in ["ApiUrl", "RegionalDomainName", "CurlCommand"] {
        assert!(template["Outputs"].get(output).is_some(), "output {output}");
    }
}

#[test]
fn sam_build_produced_an_arm64_bootstrap() {
    let bootstrap = repo_root().join("sam/.aws-sam/build/AuthorizerFunction/bootstrap");
    let bytes = std::fs::read(&bootstrap)
        .unwrap_or_else(|e| panic!("{}: {e}: build it with `make lambda` (sam build in sam/)", bootstrap.display()));
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF executable");
    assert_eq!(bytes[4], 2, "not 64-bit");
    assert_eq!(u16::from_le_bytes([bytes[18], bytes[19]]), 183, "e_machine is not EM_AARCH64");
    let built = std::fs::metadata(&bootstrap).unwrap().modified().unwrap();
    for source in ["lambda/src/lib.rs", "lambda/src/main.rs"] {
        let changed = std::fs::metadata(repo_root().join(source)).unwrap().modified().unwrap();
        assert!(built >= changed, "{} is older than {source}: rebuild it with `make lambda`", bootstrap.display());
    }
    eprintln!("{}: {} bytes", bootstrap.display(), bytes.len());
}
