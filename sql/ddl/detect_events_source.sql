-- audit.events as the detect job reads it: the subset of schemas/audit_event.avsc the `events`
-- view (detect_events_view.sql) exposes. Avro schema resolution skips the writer's other fields.
-- Event time is `time` with a bounded out-of-orderness watermark; quiet partitions go idle so a
-- quiet tenant does not hold back every rule's windows. `auditflow rules test` declares the same
-- columns over a JSON fixture file (only the WITH options differ), so rules see the same rows.
CREATE TABLE audit_events (
    event_id STRING NOT NULL,
    tenant_id STRING NOT NULL,
    `time` TIMESTAMP(3) NOT NULL,
    class_uid INT NOT NULL,
    category_uid INT NOT NULL,
    activity_id INT NOT NULL,
    type_uid BIGINT NOT NULL,
    severity_id INT NOT NULL,
    status_id INT,
    status_detail STRING,
    message STRING,
    metadata ROW<product ROW<name STRING>, log_name STRING>,
    actor ROW<`user` ROW<uid STRING, name STRING, `type` STRING, `groups` ARRAY<STRING>>,
              session ROW<uid STRING, issuer STRING, is_mfa BOOLEAN>>,
    src_endpoint ROW<ip STRING, hostname STRING>,
    dst_endpoint ROW<ip STRING, hostname STRING>,
    api ROW<operation STRING, service ROW<name STRING>>,
    resources ARRAY<ROW<uid STRING, name STRING, `type` STRING, namespace STRING>>,
    http_request ROW<http_method STRING, url STRING, user_agent STRING>,
    cloud ROW<provider STRING, region STRING, account ROW<uid STRING>>,
    unmapped MAP<STRING, STRING>,
    raw_data STRING,
    enrichment ROW<geo ROW<country STRING, city STRING, lat DOUBLE, lon DOUBLE, is_private BOOLEAN>,
                   `user` ROW<department STRING, title STRING, privileged BOOLEAN, known BOOLEAN>>,
    lineage ROW<source_system STRING, lateness_ms BIGINT>,
    chain ROW<chain_id STRING, `sequence` BIGINT, event_hash STRING>,
    WATERMARK FOR `time` AS `time` - INTERVAL '${out_of_orderness_s}' SECOND
) WITH (
    ${options}
)
