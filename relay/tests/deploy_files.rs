//! The shipped operations files are accepted by the real tools and agree with the binaries:
//! `promtool check config|rules`, `promtool test rules` (deploy/prometheus/alerts_test.yml),
//! `docker-compose config` (default and `postgres` profile), `haproxy -c`, and every variable
//! that `.env.example` and the compose file set is one the binaries accept, with a value they
//! parse (and `.env.example` lists every variable of both binaries with its default). The
//! `postgres` profile runs two API replicas and two relays on one PostgreSQL database behind a
//! proxy that names both replicas. A missing tool fails the test and names it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::{CommandFactory, Parser};
use inventory_api::config::Settings as ApiSettings;
use inventory_relay::Settings as RelaySettings;
use inventory_shared::config::Engine;

/// Variables of `.env.example` that only `docker-compose.yml` (or compose itself) reads.
const STACK_ONLY: [&str; 11] = [
    "COMPOSE_PROFILES",
    "GRAFANA_ADMIN_USER",
    "GRAFANA_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "PROXY_HOST_PORT",
    "API_HOST_PORT",
    "RELAY_HOST_PORT",
    "REDIS_HOST_PORT",
    "PROMETHEUS_HOST_PORT",
    "GRAFANA_HOST_PORT",
    "PROMETHEUS_RETENTION",
];

/// Variables whose default is applied outside clap (`None`: no default, an example value).
const DEFAULT_OUTSIDE_CLAP: [(&str, Option<&str>); 2] = [
    (
        "DATABASE_URL",
        Some(inventory_shared::config::DEFAULT_DATABASE_PATH),
    ),
    ("API_KEYS", None),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the relay crate sits in the repository")
        .to_path_buf()
}

/// Runs `program args` in the repository; fails naming the tool when it is missing.
fn run(program: &str, args: &[&str], install_hint: &str) -> Output {
    run_with(program, args, &[], install_hint)
}

/// [`run`] with extra environment variables.
fn run_with(program: &str, args: &[&str], env: &[(&str, &str)], install_hint: &str) -> Output {
    match Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo())
        .output()
    {
        Ok(output) => output,
        Err(e) => panic!("cannot run `{program}` ({e}); this test needs it: {install_hint}"),
    }
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

const PROMTOOL: &str = "apt-get install prometheus (it brings promtool)";
const COMPOSE: &str = "apt-get install docker-compose";

#[test]
fn promtool_accepts_the_config_and_the_rules() {
    let config = run(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
        PROMTOOL,
    );
    assert_success("promtool check config", &config);
    let rules = run(
        "promtool",
        &[
            "check",
            "rules",
            "deploy/prometheus/recording_rules.yml",
            "deploy/prometheus/alerts.yml",
        ],
        PROMTOOL,
    );
    assert_success("promtool check rules", &rules);
}

#[test]
fn promtool_unit_tests_fire_every_alert_and_stay_silent_on_healthy_series() {
    let output = run(
        "promtool",
        &["test", "rules", "deploy/prometheus/alerts_test.yml"],
        PROMTOOL,
    );
    assert_success("promtool test rules", &output);
    // Every alert has a case in which it fires.
    let alerts = alert_names();
    let tests: serde_yaml::Value = serde_yaml::from_str(&read("deploy/prometheus/alerts_test.yml"))
        .expect("alerts_test.yml is YAML");
    let mut fired = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for test in tests["tests"].as_sequence().expect("tests") {
        for case in test["alert_rule_test"].as_sequence().expect("cases") {
            let name = case["alertname"].as_str().expect("alertname").to_owned();
            let expected = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
            if expected > 0 {
                fired.insert(name);
            } else {
                silent.insert(name);
            }
        }
    }
    assert_eq!(fired, alerts, "alerts without a firing case");
    assert_eq!(silent, alerts, "alerts without a silent case");
}

#[test]
fn docker_compose_accepts_the_stack() {
    let output = run(
        "docker-compose",
        &["--env-file", ".env.example", "config", "-q"],
        COMPOSE,
    );
    assert_success("docker-compose config -q", &output);
}

#[test]
fn env_example_lists_every_variable_of_both_binaries_with_its_default() {
    let api = variables(ApiSettings::command());
    let relay = variables(RelaySettings::command());
    let (set, commented) = env_example();
    let compose = read("docker-compose.yml");

    for (name, value) in &set {
        let known = api.get(name).or_else(|| relay.get(name));
        let outside = DEFAULT_OUTSIDE_CLAP.iter().find(|(n, _)| n == name);
        match known {
            Some(var) => {
                if let Some((_, default)) = outside {
                    if let Some(default) = default {
                        assert_eq!(
                            value, default,
                            ".env.example: {name} differs from the default"
                        );
                    }
                } else if let Some(default) = &var.default {
                    assert_eq!(
                        value, default,
                        ".env.example: {name} differs from the default"
                    );
                }
            }
            None => {
                assert!(
                    STACK_ONLY.contains(&name.as_str()),
                    ".env.example sets {name}, which neither binary accepts"
                );
                assert!(
                    name == "COMPOSE_PROFILES" || compose.contains(&format!("${{{name}")),
                    "{name} is stack-only but docker-compose.yml does not use it"
                );
            }
        }
    }
    for name in &commented {
        assert!(
            api.contains_key(name) || relay.contains_key(name),
            ".env.example names {name}, which neither binary accepts"
        );
    }
    for (name, var) in api.iter().chain(relay.iter()) {
        let listed = set.contains_key(name) || commented.contains(name);
        assert!(listed, ".env.example does not list {name}");
        if var.default.is_none() && !DEFAULT_OUTSIDE_CLAP.iter().any(|(n, _)| n == name) {
            assert!(
                commented.contains(name),
                "{name} has no default: list it commented out"
            );
        }
    }

    // The values parse, for the binary that reads them.
    let api_settings = parse_api(&set, &api);
    api_settings
        .keys()
        .expect("API_KEYS of .env.example is a valid key list");
    parse_relay(&set, &relay);
}

#[test]
fn docker_compose_accepts_the_postgres_profile() {
    let output = run_with(
        "docker-compose",
        &["--env-file", ".env.example", "config", "-q"],
        &[("COMPOSE_PROFILES", "postgres")],
        COMPOSE,
    );
    assert_success(
        "COMPOSE_PROFILES=postgres docker-compose config -q",
        &output,
    );
}

/// `docker-compose config` with `.env.example` (and `profiles`), parsed.
fn compose_config(profiles: &str) -> serde_yaml::Value {
    let output = run_with(
        "docker-compose",
        &["--env-file", ".env.example", "config"],
        &[("COMPOSE_PROFILES", profiles)],
        COMPOSE,
    );
    assert_success("docker-compose config", &output);
    serde_yaml::from_slice(&output.stdout).expect("docker-compose config prints YAML")
}

/// A service's environment, as compose resolved it.
fn environment(config: &serde_yaml::Value, service: &str) -> BTreeMap<String, String> {
    let env = &config["services"][service]["environment"];
    env.as_mapping()
        .unwrap_or_else(|| panic!("{service} has an environment map"))
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                other => panic!("{service}: unexpected value {other:?}"),
            };
            (k.as_str().expect("variable name").to_owned(), value)
        })
        .collect()
}

/// A service's profiles (empty: it always runs).
fn profiles(config: &serde_yaml::Value, service: &str) -> Vec<String> {
    config["services"][service]["profiles"]
        .as_sequence()
        .map(|p| {
            p.iter()
                .map(|v| v.as_str().expect("profile").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_sets_only_variables_the_binaries_accept() {
    let config = compose_config("");
    let environment = |service: &str| environment(&config, service);
    let api = variables(ApiSettings::command());
    let relay = variables(RelaySettings::command());
    let api_env = environment("api");
    for name in api_env.keys() {
        assert!(
            api.contains_key(name),
            "compose gives the api {name}, which it does not accept"
        );
    }
    let settings = parse_api(&api_env, &api);
    assert_eq!(settings.server_host.to_string(), "0.0.0.0");
    settings.keys().expect("compose's API_KEYS parse");
    let relay_env = environment("relay");
    for name in relay_env.keys() {
        assert!(
            relay.contains_key(name),
            "compose gives the relay {name}, which it does not accept"
        );
    }
    let settings = parse_relay(&relay_env, &relay);
    assert_eq!(settings.relay_http_addr.to_string(), "0.0.0.0:9091");
    assert_eq!(
        api_env["DATABASE_URL"], relay_env["DATABASE_URL"],
        "the API and the relay share one database file"
    );
}

const API_REPLICAS: [&str; 2] = ["api-pg-1", "api-pg-2"];
const PG_RELAYS: [&str; 2] = ["relay-pg-1", "relay-pg-2"];

#[test]
fn the_postgres_profile_runs_two_api_replicas_and_two_relays_on_one_database() {
    let config = compose_config("postgres");
    let api = variables(ApiSettings::command());
    let relay = variables(RelaySettings::command());

    // SQLite stays the default: its services belong to no profile; the new ones to `postgres`.
    for service in ["api", "relay", "redis", "prometheus", "grafana"] {
        assert!(
            profiles(&config, service).is_empty(),
            "{service} must run without a profile"
        );
    }
    let pg_services = ["postgres", "proxy"]
        .into_iter()
        .chain(API_REPLICAS)
        .chain(PG_RELAYS);
    for service in pg_services {
        assert_eq!(
            profiles(&config, service),
            ["postgres"],
            "{service} belongs to the postgres profile"
        );
    }

    // The database: PostgreSQL 15, health-checked, its password from the environment.
    let postgres = &config["services"]["postgres"];
    assert!(
        postgres["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres:15")),
        "{:?}",
        postgres["image"]
    );
    let healthcheck = format!("{:?}", postgres["healthcheck"]["test"]);
    assert!(healthcheck.contains("pg_isready"), "{healthcheck}");
    let pg_env = environment(&config, "postgres");
    let password = &pg_env["POSTGRES_PASSWORD"];
    assert!(!password.is_empty());
    let compose = read("docker-compose.yml");
    assert!(
        compose.contains("${POSTGRES_PASSWORD:?"),
        "POSTGRES_PASSWORD must be required, like API_KEYS"
    );
    let expected_url = format!(
        "postgres://{}:{password}@postgres:5432/{}",
        pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"]
    );

    // Both replicas and both relays: accepted variables, values that parse, one database URL.
    let mut urls = BTreeSet::new();
    for service in API_REPLICAS {
        let env = environment(&config, service);
        for name in env.keys() {
            assert!(
                api.contains_key(name),
                "compose gives {service} {name}, which the API does not accept"
            );
        }
        let settings = parse_api(&env, &api);
        assert!(
            matches!(settings.database.engine(), Engine::Postgres(_)),
            "{service} runs on PostgreSQL"
        );
        assert_eq!(settings.server_host.to_string(), "0.0.0.0");
        settings.keys().expect("compose's API_KEYS parse");
        assert_eq!(
            config["services"][service]["image"], config["services"]["api"]["image"],
            "{service} runs the api image"
        );
        urls.insert(env["DATABASE_URL"].clone());
    }
    let sqlite_relay = environment(&config, "relay");
    for service in PG_RELAYS {
        let env = environment(&config, service);
        for name in env.keys() {
            assert!(
                relay.contains_key(name),
                "compose gives {service} {name}, which the relay does not accept"
            );
        }
        let settings = parse_relay(&env, &relay);
        assert!(
            matches!(settings.database.engine(), Engine::Postgres(_)),
            "{service} runs on PostgreSQL"
        );
        assert_eq!(settings.relay_http_addr.to_string(), "0.0.0.0:9091");
        assert_eq!(
            config["services"][service]["image"], config["services"]["relay"]["image"],
            "{service} runs the relay image"
        );
        // The two chains never publish into one stream or topic.
        for name in ["REDIS_STREAM", "KAFKA_TOPIC"] {
            assert_ne!(
                env.get(name),
                sqlite_relay.get(name),
                "{service} and the SQLite relay share {name}"
            );
        }
        urls.insert(env["DATABASE_URL"].clone());
    }
    assert_eq!(
        urls,
        BTreeSet::from([expected_url]),
        "the replicas and the relays share one database, the postgres service's"
    );

    // The proxy: the file it mounts names both replicas, round-robin, health-checked.
    let volumes = format!("{:?}", config["services"]["proxy"]["volumes"]);
    assert!(
        volumes.contains("deploy/haproxy/haproxy.cfg"),
        "the proxy mounts deploy/haproxy/haproxy.cfg: {volumes}"
    );
    let proxy = read("deploy/haproxy/haproxy.cfg");
    assert!(proxy.contains("balance roundrobin"));
    assert!(proxy.contains("http-check send meth GET uri /health"));
    assert!(proxy.contains("default-server check"));
    for replica in API_REPLICAS {
        assert!(
            proxy.contains(&format!("server {replica} {replica}:8080")),
            "the proxy does not name {replica}"
        );
    }
    let ports = format!("{:?}", config["services"]["proxy"]["ports"]);
    assert!(ports.contains("8081"), "the proxy's host port: {ports}");

    // Prometheus finds every replica and relay of the profile.
    let prometheus = read("deploy/prometheus/prometheus.yml");
    for service in API_REPLICAS.into_iter().chain(PG_RELAYS) {
        assert!(
            prometheus.contains(&format!("\"{service}\"")),
            "prometheus.yml does not scrape {service}"
        );
    }
}

#[test]
fn haproxy_accepts_the_proxy_config() {
    let output = run(
        "haproxy",
        &["-c", "-f", "deploy/haproxy/haproxy.cfg"],
        "apt-get install haproxy",
    );
    assert_success("haproxy -c", &output);
}

#[test]
fn the_dockerfile_builds_with_the_pinned_toolchain() {
    let toolchain = read("rust-toolchain.toml");
    let channel = toolchain
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .expect("rust-toolchain.toml names a channel")
        .trim_matches('"');
    let dockerfile = read("deploy/Dockerfile");
    assert!(
        dockerfile.contains(&format!("ARG RUST_VERSION={channel}\n")),
        "deploy/Dockerfile must build with Rust {channel} (rust-toolchain.toml)"
    );
    for needed in ["USER inventory", "HEALTHCHECK", "AS api", "AS relay"] {
        assert!(
            dockerfile.contains(needed),
            "deploy/Dockerfile lacks {needed}"
        );
    }
}

#[test]
fn the_dashboard_uses_the_provisioned_datasource_and_existing_recording_rules() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/inventory.json"))
            .expect("the dashboard is JSON");
    assert!(dashboard["schemaVersion"].as_u64() > Some(30));
    let datasources = read("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert!(datasources.contains("uid: prometheus"));
    let recorded = read("deploy/prometheus/recording_rules.yml");
    let mut exprs = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().expect("title");
        assert_eq!(panel["datasource"]["uid"], "prometheus", "{title}");
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            exprs += 1;
            // A name with colons is a recording rule: it must be recorded.
            for word in expr.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                if word.contains(':') && !word.starts_with(':') && word.len() > 3 {
                    assert!(
                        recorded.contains(&format!("record: {word}\n")),
                        "{title}: {word} is not in recording_rules.yml"
                    );
                }
            }
        }
    }
    assert!(exprs > 20, "only {exprs} expressions");
}

/// One variable a binary reads: its flag and its default.
struct Var {
    long: String,
    default: Option<String>,
}

/// Every `env` of a clap command (flattened groups included), by variable name.
fn variables(command: clap::Command) -> BTreeMap<String, Var> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?.to_owned();
            let long = arg.get_long()?.to_owned();
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((env, Var { long, default }))
        })
        .collect()
}

/// `--flag=value` for each variable of `env` that the binary reads.
fn flags(env: &BTreeMap<String, String>, vars: &BTreeMap<String, Var>) -> Vec<String> {
    env.iter()
        .filter_map(|(name, value)| Some(format!("--{}={value}", vars.get(name)?.long)))
        .collect()
}

fn parse_api(env: &BTreeMap<String, String>, vars: &BTreeMap<String, Var>) -> ApiSettings {
    let args = std::iter::once("inventory-api".to_owned()).chain(flags(env, vars));
    ApiSettings::try_parse_from(args).unwrap_or_else(|e| panic!("the API refuses the values: {e}"))
}

fn parse_relay(env: &BTreeMap<String, String>, vars: &BTreeMap<String, Var>) -> RelaySettings {
    let args = std::iter::once("inventory-relay".to_owned()).chain(flags(env, vars));
    RelaySettings::try_parse_from(args)
        .unwrap_or_else(|e| panic!("the relay refuses the values: {e}"))
}

/// `.env.example`: the variables set (`NAME=value`) and those listed commented (`# NAME=`).
fn env_example() -> (BTreeMap<String, String>, BTreeSet<String>) {
    let mut set = BTreeMap::new();
    let mut commented = BTreeSet::new();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    for line in read(".env.example").lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some((name, "")) = rest.split_once('=')
                && is_name(name)
            {
                commented.insert(name.to_owned());
            }
        } else if let Some((name, value)) = line.split_once('=')
            && !line.starts_with('#')
        {
            assert!(is_name(name), ".env.example: bad line {line:?}");
            let previous = set.insert(name.to_owned(), value.to_owned());
            assert!(previous.is_none(), ".env.example sets {name} twice");
        }
    }
    // Compose's own variables stay out of the binaries' checks when empty.
    set.retain(|name, value| !(value.is_empty() && STACK_ONLY.contains(&name.as_str())));
    (set, commented)
}

fn alert_names() -> BTreeSet<String> {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/prometheus/alerts.yml")).expect("alerts.yml is YAML");
    rules["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").iter())
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}
