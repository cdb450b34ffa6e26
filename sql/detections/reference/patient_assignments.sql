-- Care-team assignments: which user may open which patient's record, exported from the EHR's
-- care-team module into patient_assignments.csv. One row per change: status 'assigned' from
-- valid_from on, 'unassigned' when the assignment ends. A versioned table keyed by
-- (tenant, user, patient): the temporal join reads the status valid at the access time.
CREATE TABLE patient_assignments (
    tenant_id STRING NOT NULL,
    user_name STRING NOT NULL,
    patient_id STRING NOT NULL,
    status STRING NOT NULL,
    valid_from TIMESTAMP(3) NOT NULL,
    PRIMARY KEY (tenant_id, user_name, patient_id) NOT ENFORCED,
    WATERMARK FOR valid_from AS valid_from
) WITH (
    'connector' = 'filesystem',
    'path' = '${path}',
    'format' = 'csv',
    'csv.allow-comments' = 'true'
)
