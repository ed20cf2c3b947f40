//! Resources: the observed process is the service.
//!
//! Spans and flow logs carry the full process resource (pid, command line, parent).
//! Metrics carry a service-level resource without the pid, so a short-lived client
//! (curl in a cron job) adds to its service's series instead of creating new ones.

use opentelemetry_proto::tonic::resource::v1::Resource;
use sonde_semconv::resource as r;

use super::kv;
use crate::process::ProcessInfo;

/// Facts about the host, read once.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// `host.name`.
    pub host_name: String,
}

impl HostInfo {
    /// Reads the host name (the kernel's nodename).
    pub fn detect() -> HostInfo {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        HostInfo { host_name }
    }
}

/// The resource of spans and logs: one process.
pub fn process_resource(p: &ProcessInfo, host: &HostInfo) -> Resource {
    let mut attributes = vec![
        kv::str(r::SERVICE_NAME, &p.service_name),
        kv::str(
            r::SERVICE_INSTANCE_ID,
            format!("{}/{}", host.host_name, p.pid),
        ),
        kv::str(r::HOST_NAME, &host.host_name),
        kv::int(r::PROCESS_PID, p.pid),
        kv::int(r::PROCESS_PARENT_PID, p.ppid),
        kv::str(r::PROCESS_EXECUTABLE_NAME, &p.exe_name),
        kv::str(
            r::SONDE_SERVICE_NAME_SOURCE,
            if p.service_name_from_env {
                "env"
            } else {
                "executable"
            },
        ),
    ];
    if let Some(path) = &p.exe_path {
        attributes.push(kv::str(r::PROCESS_EXECUTABLE_PATH, path));
    }
    if let Some(cmd) = &p.command_line {
        attributes.push(kv::str(r::PROCESS_COMMAND_LINE, cmd));
    }
    if let Some(id) = &p.container_id {
        attributes.push(kv::str(r::CONTAINER_ID, id));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// The identity of a service for metrics: name, executable and container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// `service.name`.
    pub service_name: String,
    /// `process.executable.name`.
    pub exe_name: String,
    /// `container.id`.
    pub container_id: Option<String>,
}

impl ServiceKey {
    /// The service a process belongs to.
    pub fn of(p: &ProcessInfo) -> ServiceKey {
        ServiceKey {
            service_name: p.service_name.clone(),
            exe_name: p.exe_name.clone(),
            container_id: p.container_id.clone(),
        }
    }

    /// The resource of this service's metrics.
    pub fn resource(&self, host: &HostInfo) -> Resource {
        let mut instance = format!("{}/{}", host.host_name, self.service_name);
        if let Some(id) = &self.container_id {
            instance.push('/');
            instance.push_str(id.get(..12).unwrap_or(id));
        }
        let mut attributes = vec![
            kv::str(r::SERVICE_NAME, &self.service_name),
            kv::str(r::SERVICE_INSTANCE_ID, instance),
            kv::str(r::HOST_NAME, &host.host_name),
            kv::str(r::PROCESS_EXECUTABLE_NAME, &self.exe_name),
        ];
        if let Some(id) = &self.container_id {
            attributes.push(kv::str(r::CONTAINER_ID, id));
        }
        Resource {
            attributes,
            ..Default::default()
        }
    }
}

/// Sonde's own resource.
pub fn agent_resource(host: &HostInfo) -> Resource {
    Resource {
        attributes: vec![
            kv::str(r::SERVICE_NAME, r::AGENT_SERVICE_NAME),
            kv::str(r::SERVICE_VERSION, env!("CARGO_PKG_VERSION")),
            kv::str(r::SERVICE_INSTANCE_ID, format!("{}/sonde", host.host_name)),
            kv::str(r::HOST_NAME, &host.host_name),
            kv::int(r::PROCESS_PID, std::process::id()),
        ],
        ..Default::default()
    }
}
