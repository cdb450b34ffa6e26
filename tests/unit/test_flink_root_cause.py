"""flink.root_cause: the line of a Flink job's stack trace a person can act on."""

from auditflow import flink

DENIED = "org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [e]"
TRACE = "\n".join([
    "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy",
    "\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(...)",
    "Caused by: java.lang.RuntimeException: One or more fetchers have encountered exception",
    "\tat org.apache.flink.connector.base.source.reader.fetcher.SplitFetcherManager.checkErrors(...)",
    "\t... 12 more",
    f"Caused by: {DENIED}",
    "\t... 3 more",
])


def test_the_innermost_cause_is_the_root_cause():
    assert flink.root_cause(TRACE) == DENIED


def test_without_a_cause_the_exception_itself():
    assert flink.root_cause("java.lang.IllegalStateException: boom\n\tat x.y(Z.java:1)\n") == (
        "java.lang.IllegalStateException: boom")


def test_an_empty_trace_is_empty():
    assert flink.root_cause("") == ""
    assert flink.root_cause("\n") == ""
