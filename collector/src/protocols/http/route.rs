//! `http.route`: the low-cardinality name of what a server request asked for.
//!
//! Raw paths never become metric attributes: `/users/8812` would make a series per user.
//! A route is either the first configured template that matches the path
//! (`/users/{id}`), or — only when the opt-in heuristic is on — the path with every
//! id-like segment replaced by `{id}`. Each service may have at most `max_per_service`
//! distinct routes; past that, new ones are reported as [`OTHER`], so a crawler walking
//! random URLs costs one series, not thousands. No template, no heuristic: no route.
//!
//! Cost: matching is linear in the number of templates (each compared segment by segment,
//! after a segment-count check); the bench `http_route` measures it.

use std::collections::HashMap;

use crate::config::route::split;
pub use crate::config::route::{BadTemplate, Template};

/// The route reported past a service's cap.
pub const OTHER: &str = "_OTHER";
/// What the heuristic puts in place of an id-like segment.
pub const ID: &str = "{id}";
/// Services whose routes are remembered for the cap; requests of further services are
/// reported as [`OTHER`] (metric series are bounded in the same way, per service).
const MAX_SERVICES: usize = 2_000;

/// Whether a path segment looks like an identifier rather than a name: all digits, a
/// UUID, a long hex string (hashes, object ids), a long token mixing letters and digits,
/// or anything longer than 64 bytes.
pub fn is_id_like(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.is_empty() {
        return false;
    }
    if b.len() > 64 || b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if uuid {
        return true;
    }
    if b.len() >= 16 {
        let digits = b.iter().any(u8::is_ascii_digit);
        let hex = b.iter().all(u8::is_ascii_hexdigit);
        let token = b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=' | b'.'))
            && b.iter().any(u8::is_ascii_alphabetic);
        return digits && (hex || token);
    }
    false
}

/// How routes are found, from the configuration.
#[derive(Debug, Clone, Default)]
pub struct RouteRules {
    /// Tried in order; the first match names the route.
    pub templates: Vec<Template>,
    /// Replace id-like segments when no template matched.
    pub heuristic: bool,
    /// Distinct routes per service before [`OTHER`].
    pub max_per_service: usize,
}

/// Finds routes and enforces the per-service cap. A route unused for a number of export
/// intervals is forgotten, so the slots a path scanner took come back to the service's
/// real routes.
#[derive(Debug, Default)]
pub struct Router {
    rules: RouteRules,
    /// Service → its routes, each with the interval it was last used in.
    seen: HashMap<String, HashMap<String, u64>>,
    /// The current export interval.
    interval: u64,
    capped: u64,
}

impl Router {
    /// A router applying `rules`.
    pub fn new(rules: RouteRules) -> Router {
        Router {
            rules,
            seen: HashMap::new(),
            interval: 0,
            capped: 0,
        }
    }

    /// The route of `path` (no query string) served by `service`, or `None` when no rule
    /// names one.
    pub fn route(&mut self, service: &str, path: &str) -> Option<String> {
        let rest = path.strip_prefix('/')?;
        let segments: Vec<&str> = split(rest).collect();
        let route = match self.rules.templates.iter().find(|t| t.matches(&segments)) {
            Some(t) => t.as_str().to_owned(),
            None if self.rules.heuristic => heuristic(&segments),
            None => return None,
        };
        Some(self.cap(service, route))
    }

    fn cap(&mut self, service: &str, route: String) -> String {
        let (max, now) = (self.rules.max_per_service, self.interval);
        if let Some(routes) = self.seen.get_mut(service) {
            if let Some(used) = routes.get_mut(&route) {
                *used = now;
                return route;
            }
            if routes.len() < max {
                routes.insert(route.clone(), now);
                return route;
            }
        } else if self.seen.len() < MAX_SERVICES && max > 0 {
            self.seen
                .entry(service.to_owned())
                .or_default()
                .insert(route.clone(), now);
            return route;
        }
        self.capped += 1;
        OTHER.to_owned()
    }

    /// An export interval ended: routes unused for the last `idle` intervals (0: never)
    /// are forgotten, and services left with none.
    pub fn end_interval(&mut self, idle: u64) {
        self.interval += 1;
        if idle == 0 {
            return;
        }
        let now = self.interval;
        self.seen.retain(|_, routes| {
            routes.retain(|_, used| now - *used < idle);
            !routes.is_empty()
        });
    }

    /// Requests reported as [`OTHER`] because their service had reached its cap.
    pub fn capped(&self) -> u64 {
        self.capped
    }
}

fn heuristic(segments: &[&str]) -> String {
    if segments.is_empty() {
        return "/".to_owned();
    }
    let mut route = String::new();
    for seg in segments {
        route.push('/');
        route.push_str(if is_id_like(seg) { ID } else { seg });
    }
    route
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn rules(templates: &[&str], heuristic: bool, max: usize) -> Router {
        Router::new(RouteRules {
            templates: templates
                .iter()
                .map(|t| Template::parse(t).unwrap())
                .collect(),
            heuristic,
            max_per_service: max,
        })
    }

    #[test]
    fn templates_match_in_order() {
        let mut r = rules(
            &[
                "/users/me",
                "/users/{id}",
                "/users/{id}/orders/{order}",
                "/static/*",
            ],
            false,
            100,
        );
        let route = |r: &mut Router, p: &str| r.route("svc", p);
        assert_eq!(route(&mut r, "/users/me").as_deref(), Some("/users/me"));
        assert_eq!(route(&mut r, "/users/42").as_deref(), Some("/users/{id}"));
        assert_eq!(route(&mut r, "/users/42/").as_deref(), Some("/users/{id}"));
        assert_eq!(
            route(&mut r, "/users/42/orders/7").as_deref(),
            Some("/users/{id}/orders/{order}")
        );
        assert_eq!(route(&mut r, "/static").as_deref(), Some("/static/*"));
        assert_eq!(
            route(&mut r, "/static/a/b.css").as_deref(),
            Some("/static/*")
        );
        // No template, no heuristic: no route at all, never the raw path.
        assert_eq!(route(&mut r, "/users/42/avatar"), None);
        assert_eq!(route(&mut r, "/users//orders/7"), None);
        assert_eq!(route(&mut r, "*"), None);
        assert_eq!(route(&mut r, ""), None);
    }

    #[test]
    fn root_and_trailing_slash() {
        let mut r = rules(&["/"], false, 10);
        assert_eq!(r.route("s", "/").as_deref(), Some("/"));
        assert_eq!(r.route("s", "/x"), None);
    }

    #[test]
    fn bad_templates_say_why() {
        for (t, why) in [
            ("users/{id}", "must start with /"),
            ("/a/*/b", "* may only be the last segment"),
            ("/a/{}", "a {parameter} name is letters, digits, _ or -"),
            ("/a/{x y}", "a {parameter} name is letters, digits, _ or -"),
            ("/a/x{id}", "{parameter} and * must fill a whole segment"),
            ("/a?b=1", "must not contain a query string or fragment"),
        ] {
            assert_eq!(Template::parse(t).unwrap_err().reason, why, "{t}");
        }
    }

    #[test]
    fn heuristic_replaces_only_id_like_segments() {
        let mut r = rules(&["/users/{user}"], true, 100);
        let route = |r: &mut Router, p: &str| r.route("svc", p).unwrap();
        // A template wins over the heuristic.
        assert_eq!(route(&mut r, "/users/42"), "/users/{user}");
        assert_eq!(route(&mut r, "/orders/42/items"), "/orders/{id}/items");
        assert_eq!(
            route(&mut r, "/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "/o/{id}"
        );
        assert_eq!(
            route(&mut r, "/blob/9f86d081884c7d659a2feaa0"),
            "/blob/{id}"
        );
        assert_eq!(route(&mut r, "/t/aB3dE5fG7hJ9kL1mN"), "/t/{id}");
        assert_eq!(route(&mut r, "/api/v2/health"), "/api/v2/health");
        assert_eq!(
            route(&mut r, "/blog/a-long-post-title"),
            "/blog/a-long-post-title"
        );
        assert_eq!(route(&mut r, "/"), "/");
        assert_eq!(route(&mut r, &format!("/x/{}", "a".repeat(65))), "/x/{id}");
    }

    #[test]
    fn cap_is_per_service_and_counted() {
        let mut r = rules(&[], true, 2);
        assert_eq!(r.route("a", "/one").as_deref(), Some("/one"));
        assert_eq!(r.route("a", "/two").as_deref(), Some("/two"));
        assert_eq!(r.route("a", "/three").as_deref(), Some(OTHER));
        // Known routes keep their name after the cap.
        assert_eq!(r.route("a", "/one").as_deref(), Some("/one"));
        // Another service has its own budget.
        assert_eq!(r.route("b", "/three").as_deref(), Some("/three"));
        assert_eq!(r.capped(), 1);
        let mut none = rules(&[], true, 0);
        assert_eq!(none.route("a", "/x").as_deref(), Some(OTHER));
    }

    #[test]
    fn a_scanners_routes_expire_and_the_real_ones_come_back() {
        let mut r = rules(&[], true, 3);
        assert_eq!(r.route("web", "/users/1").as_deref(), Some("/users/{id}"));
        for i in 0..100 {
            r.route("web", &format!("/scan-{i}"));
        }
        assert_eq!(r.route("web", "/orders/7").as_deref(), Some(OTHER));
        // The scan ends; the real routes keep being used through two intervals.
        for _ in 0..2 {
            assert_eq!(r.route("web", "/users/2").as_deref(), Some("/users/{id}"));
            r.end_interval(2);
        }
        // The scanner's routes, unused for two intervals, are gone: a new real route fits.
        assert_eq!(r.route("web", "/orders/7").as_deref(), Some("/orders/{id}"));
        assert_eq!(r.route("web", "/users/3").as_deref(), Some("/users/{id}"));
        // 0: nothing expires.
        let mut keep = rules(&[], true, 1);
        keep.route("web", "/a");
        for _ in 0..10 {
            keep.end_interval(0);
        }
        assert_eq!(keep.route("web", "/b").as_deref(), Some(OTHER));
    }

    #[test]
    fn a_crawler_costs_one_route() {
        let mut r = rules(&[], true, 50);
        let mut distinct = HashSet::new();
        for i in 0..10_000 {
            distinct.insert(r.route("web", &format!("/page-{i}")).unwrap());
        }
        assert_eq!(distinct.len(), 51);
        assert!(distinct.contains(OTHER));
    }
}
