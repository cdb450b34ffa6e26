module auditflow/tools/verify-go

go 1.22
