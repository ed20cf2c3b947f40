//! Resources: the observed process is the service.
//!
//! Spans and flow logs carry the full process resource (pid, command line, parent).
//! Metrics carry a service-level resource without the pid, so a short-lived client
//! (curl in a cron job) adds to its service's series instead of creating new ones.
//! Sonde's own telemetry carries the agent's resource, which the configuration
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) names; the observed processes keep
//! their own names.

use opentelemetry_proto::tonic::resource::v1::Resource;
use sonde_semconv::resource as r;

use super::kv;
use crate::config::{AgentResource, Temporality};
use crate::enrich::process::ProcessInfo;

/// Facts about the host, read once, and how the agent reports from it: its own resource
/// and the metric temporality asked for.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// `host.name`.
    pub host_name: String,
    /// Sonde's own `service.name` and extra resource attributes.
    pub agent: AgentResource,
    /// Cumulative or delta sums and histograms.
    pub temporality: Temporality,
}

impl HostInfo {
    /// Reads the host name (the kernel's nodename); the agent's resource and temporality
    /// are the defaults until [`HostInfo::with_config`].
    pub fn detect() -> HostInfo {
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        HostInfo::named(&host_name)
    }

    /// A host of that name, with the default agent resource and cumulative temporality.
    pub fn named(host_name: &str) -> HostInfo {
        HostInfo {
            host_name: host_name.to_owned(),
            agent: AgentResource::default(),
            temporality: Temporality::Cumulative,
        }
    }

    /// The agent's configured resource and metric temporality.
    pub fn with_config(mut self, agent: &AgentResource, temporality: Temporality) -> HostInfo {
        self.agent = agent.clone();
        self.temporality = temporality;
        self
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

/// A [`ServiceKey`] borrowed from a process: a metric update that finds its series copies
/// no string (the key is owned only by a new series). It hashes and compares exactly like
/// the owned key: same fields, same order, `&str` hashing as `String` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceRef<'a> {
    /// `service.name`.
    pub service_name: &'a str,
    /// `process.executable.name`.
    pub exe_name: &'a str,
    /// `container.id`.
    pub container_id: Option<&'a str>,
}

impl<'a> ServiceRef<'a> {
    /// The service a process belongs to.
    pub fn of(p: &'a ProcessInfo) -> Self {
        ServiceRef {
            service_name: &p.service_name,
            exe_name: &p.exe_name,
            container_id: p.container_id.as_deref(),
        }
    }

    /// The owned key.
    pub fn to_key(self) -> ServiceKey {
        ServiceKey {
            service_name: self.service_name.to_owned(),
            exe_name: self.exe_name.to_owned(),
            container_id: self.container_id.map(str::to_owned),
        }
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
    /// This key, borrowed.
    pub fn as_ref(&self) -> ServiceRef<'_> {
        ServiceRef {
            service_name: &self.service_name,
            exe_name: &self.exe_name,
            container_id: self.container_id.as_deref(),
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

/// Sonde's own resource: its configured service name and attributes, then what it knows
/// itself (version, instance, host, pid) unless the configuration set those keys too.
pub fn agent_resource(host: &HostInfo) -> Resource {
    let name = &host.agent.service_name;
    let mut attributes = vec![kv::str(r::SERVICE_NAME, name)];
    attributes.extend(
        host.agent
            .attributes
            .iter()
            .filter(|(k, _)| k.as_str() != r::SERVICE_NAME)
            .map(|(k, v)| kv::str(k, v)),
    );
    let own = [
        kv::str(r::SERVICE_VERSION, env!("CARGO_PKG_VERSION")),
        kv::str(
            r::SERVICE_INSTANCE_ID,
            format!("{}/{}", host.host_name, name),
        ),
        kv::str(r::HOST_NAME, &host.host_name),
        kv::int(r::PROCESS_PID, std::process::id()),
    ];
    for attr in own {
        if !host.agent.attributes.contains_key(&attr.key) {
            attributes.push(attr);
        }
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentResource;

    fn attr(res: &Resource, key: &str) -> Option<String> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        res.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => i.to_string(),
                other => format!("{other:?}"),
            })
    }

    #[test]
    fn agent_resource_follows_the_configuration() {
        let plain = agent_resource(&HostInfo::named("h"));
        assert_eq!(attr(&plain, r::SERVICE_NAME).as_deref(), Some("sonde"));
        assert_eq!(
            attr(&plain, r::SERVICE_INSTANCE_ID).as_deref(),
            Some("h/sonde")
        );
        let mut agent = AgentResource {
            service_name: "edge-agent".into(),
            ..AgentResource::default()
        };
        agent
            .attributes
            .insert("deployment.environment.name".into(), "prod".into());
        agent
            .attributes
            .insert(r::HOST_NAME.into(), "node-7".into());
        let host = HostInfo::named("h").with_config(&agent, Temporality::Delta);
        let res = agent_resource(&host);
        assert_eq!(attr(&res, r::SERVICE_NAME).as_deref(), Some("edge-agent"));
        assert_eq!(
            attr(&res, "deployment.environment.name").as_deref(),
            Some("prod")
        );
        assert_eq!(
            attr(&res, r::HOST_NAME).as_deref(),
            Some("node-7"),
            "the configuration wins"
        );
        assert_eq!(
            res.attributes
                .iter()
                .filter(|kv| kv.key == r::HOST_NAME)
                .count(),
            1
        );
        assert!(attr(&res, r::PROCESS_PID).is_some());
        assert_eq!(host.temporality, Temporality::Delta);
    }
}
