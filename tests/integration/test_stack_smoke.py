"""The test stack itself comes up: Prometheus scrapes node-exporter, moto answers S3."""

from __future__ import annotations

from tests.fixtures.servers import PrometheusStack, list_s3_keys, s3_client


def test_prometheus_scrapes_node_exporter(prometheus_stack: PrometheusStack) -> None:
    result = prometheus_stack.wait_for('up{job="node"}')
    assert result[0]["value"][1] == "1"


def test_moto_server_stores_objects_over_http(moto_s3: str, s3_bucket: str) -> None:
    s3_client(moto_s3).put_object(Bucket=s3_bucket, Key="a/b", Body=b"x")
    assert list_s3_keys(moto_s3, s3_bucket) == ["a/b"]
