"""docker-compose.yml, the Prometheus config and the Grafana dashboard hold together."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from monitoring import DASHBOARD, DEPLOY, dashboard_expressions, metric_names

REPO = DEPLOY.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DURATION = re.compile(r"^\d+(ms|s|m|h|d|w|y)$")


def container_port(service: str) -> int:
    """The container side of the service's first published port."""
    return int(str(SERVICES[service]["ports"][0]).rsplit(":", 1)[1])


def test_compose_wires_the_services():
    assert {"backend", "frontend", "tensorboard", "prometheus", "grafana"} <= set(SERVICES)
    assert SERVICES["frontend"]["environment"]["API_URL"] == "http://backend:8000"
    assert container_port("backend") == int(SERVICES["backend"]["environment"]["PORT"])
    assert container_port("frontend") == int(SERVICES["frontend"]["environment"]["PORT"])
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"]
    for name in ("backend", "frontend", "tensorboard"):
        assert "profiles" not in SERVICES[name], f"{name} must start with a plain `up`"


def test_compose_paths_exist():
    for name, service in SERVICES.items():
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
            for extra in build.get("additional_contexts", {}).values():
                assert (REPO / extra).is_dir(), f"{name}: {extra}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy/"):  # what we ship; a missing file would become a dir
                assert (REPO / source).exists(), f"{name} mounts a missing {source}"
            elif source.startswith("."):  # runs/: the labs' output, created empty if absent
                assert source == "./runs", f"{name}: unexpected bind mount {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"


def test_predictions_live_in_postgres_on_a_volume():
    backend = SERVICES["backend"]
    url = backend["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://flipkart:") and url.endswith(
        "@postgres:5432/flipkart"
    )
    assert backend["depends_on"]["postgres"]["condition"] == "service_healthy"
    postgres = SERVICES["postgres"]
    assert postgres["environment"]["POSTGRES_USER"] == "flipkart"
    assert postgres["environment"]["POSTGRES_DB"] == "flipkart"
    assert "ports" not in postgres  # reached by the backend only
    mounts = {v.split(":")[1]: v.split(":")[0] for v in postgres["volumes"]}
    assert mounts["/var/lib/postgresql/data"] in COMPOSE["volumes"]
    # The Debian-built stand-in keeps the official image's data folder and variables.
    dockerfile = (DEPLOY / "postgres" / "Dockerfile").read_text()
    assert "PGDATA=/var/lib/postgresql/data" in dockerfile
    start = (DEPLOY / "postgres" / "start.sh").read_text()
    for name in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert name in start


def test_the_frontend_gets_the_admin_key_it_reads():
    # flipkart_ui.config reads API_KEY; the backend accepts its sha256.
    assert SERVICES["frontend"]["environment"]["API_KEY"] == "${API_KEY:-}"
    assert "FLIPKART_ADMIN_KEY_SHA256" in SERVICES["backend"]["environment"]


def test_published_ports_are_loopback_unless_asked():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("${BIND_ADDRESS:-127.0.0.1}:"), f"{name}: {port}"


def test_prometheus_scrapes_the_backend_metrics():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert DURATION.match(config["global"]["scrape_interval"])
    jobs = config["scrape_configs"]
    assert len({j["job_name"] for j in jobs}) == len(jobs)
    (job,) = jobs
    assert job["metrics_path"] == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets == [f"backend:{container_port('backend')}"]
    mounted = [v for v in SERVICES["prometheus"]["volumes"] if "prometheus.yml" in v]
    assert mounted and mounted[0].split(":")[1] in " ".join(SERVICES["prometheus"]["command"])


def provisioning(kind: str) -> dict:
    path = DEPLOY / "grafana" / "provisioning" / kind
    (file,) = path.glob("*.yml")
    return yaml.safe_load(file.read_text())


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard():
    (source,) = provisioning("datasources")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == f"http://prometheus:{container_port('prometheus')}"
    (provider,) = provisioning("dashboards")["providers"]
    folder = provider["options"]["path"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["grafana"]["volumes"]}
    assert (REPO / mounts[folder] / DASHBOARD.name).is_file()
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{folder}/{DASHBOARD.name}"


def test_dashboard_structure():
    dashboard = json.loads(DASHBOARD.read_text())
    (source,) = provisioning("datasources")["datasources"]
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    occupied = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        assert panel["datasource"]["uid"] == source["uid"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs)
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_dashboard_covers_requests_latency_and_predictions_per_category():
    expressions = dashboard_expressions()
    assert any("http_requests_total" in e for e in expressions)
    assert any("histogram_quantile" in e and "http_request_duration" in e for e in expressions)
    assert any("predictions_total" in e and "by (label)" in e for e in expressions)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (route) (rate(a_total{route!~"/x|/y"}[$__rate_interval]))', {"a_total"}),
        ("histogram_quantile(0.9, sum by (le) (rate(b[5m]))) / c offset 1h", {"b", "c"}),
        ("sum(x) and on (job) y", {"x", "y"}),
    ],
)
def test_metric_names_of_promql(expr, names):
    assert metric_names(expr) == names


def test_tensorboard_serves_the_committed_runs():
    tensorboard = SERVICES["tensorboard"]
    assert "./runs:/runs:ro" in tensorboard["volumes"]
    dockerfile = Path(REPO / tensorboard["build"]["context"] / "Dockerfile").read_text()
    assert '"--logdir", "/runs"' in dockerfile


def promtool() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


@pytest.mark.skipif(promtool() is None, reason="no promtool (Debian package prometheus)")
def test_promtool_accepts_the_config_and_every_dashboard_query(tmp_path):
    config = subprocess.run(
        [promtool(), "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert config.returncode == 0, config.stdout + config.stderr
    # Each query as a recording rule, Grafana's variables replaced by durations: promtool
    # then parses every expression with Prometheus' own parser.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)}
        for i, expr in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    check = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(rules)} rules found" in check.stdout


def grafana_to_promql(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
