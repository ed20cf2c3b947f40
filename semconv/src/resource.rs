//! Resource attribute keys: the observed process is the service.

/// Logical service name: the process's own `OTEL_SERVICE_NAME`, else its executable name.
pub const SERVICE_NAME: &str = "service.name";
/// A namespace for `service.name` (set by configuration only); Prometheus' `job` label is
/// `service.namespace/service.name` when it is present.
pub const SERVICE_NAMESPACE: &str = "service.namespace";
/// Unique per service instance: `<host.name>/<pid>` on spans and logs; `<host.name>/<service>`
/// (plus container) on metrics, so short-lived processes do not churn metric series.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// The agent's version on its own resource.
pub const SERVICE_VERSION: &str = "service.version";
/// Hostname of the observed host.
pub const HOST_NAME: &str = "host.name";
/// Process identifier (tgid).
pub const PROCESS_PID: &str = "process.pid";
/// Parent process identifier.
pub const PROCESS_PARENT_PID: &str = "process.parent_pid";
/// Executable base name (or the kernel's 16-byte `comm` when the process was gone).
pub const PROCESS_EXECUTABLE_NAME: &str = "process.executable.name";
/// Full path of the executable.
pub const PROCESS_EXECUTABLE_PATH: &str = "process.executable.path";
/// The command line, joined with spaces and capped in length.
pub const PROCESS_COMMAND_LINE: &str = "process.command_line";
/// Container id parsed from the process's cgroup path.
pub const CONTAINER_ID: &str = "container.id";
/// Where the service name came from: `env` (OTEL_SERVICE_NAME) or `executable`.
pub const SONDE_SERVICE_NAME_SOURCE: &str = "sonde.service.name.source";

/// `service.name` of Sonde's own telemetry.
pub const AGENT_SERVICE_NAME: &str = "sonde";
/// `service.name` when neither the environment nor the executable names the process.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// `service.name` (and `process.executable.name`) of what the kernel does for no process:
/// packets dropped with no owning socket.
pub const KERNEL_SERVICE: &str = "kernel";
