//! A small model of a Grafana dashboard — panels, targets, template variables — rendered
//! as the JSON Grafana imports (schema version 39, Grafana 10.4 and later).
//!
//! Every panel reaches its data source through a `datasource`-type template variable
//! (`${datasource}`, `${loki}`, `${tempo}`), so one file works against Prometheus, Mimir or
//! Grafana Cloud without editing uids.

use serde_json::{json, Value};

/// Which data source a panel or target queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Prometheus or Mimir (PromQL), through `${datasource}`.
    Prometheus,
    /// Loki (LogQL), through `${loki}`.
    Loki,
    /// Tempo (TraceQL), through `${tempo}`.
    Tempo,
}

impl Source {
    /// Grafana's plugin id of the data source type.
    pub fn plugin(self) -> &'static str {
        match self {
            Source::Prometheus => "prometheus",
            Source::Loki => "loki",
            Source::Tempo => "tempo",
        }
    }

    /// The name of the datasource template variable that selects the instance.
    pub fn variable(self) -> &'static str {
        match self {
            Source::Prometheus => "datasource",
            Source::Loki => "loki",
            Source::Tempo => "tempo",
        }
    }

    fn reference(self) -> Value {
        json!({ "type": self.plugin(), "uid": format!("${{{}}}", self.variable()) })
    }
}

/// One query of a panel.
#[derive(Debug, Clone)]
pub struct Target {
    /// The query text: PromQL, LogQL or TraceQL.
    pub expr: String,
    /// Series name template (`{{job}} {{process_executable_name}}`).
    pub legend: String,
    /// One value at the end of the range instead of a series over it.
    pub instant: bool,
    /// Prometheus result format `heatmap` (buckets sorted by `le`), else `time_series`.
    pub heatmap: bool,
    /// Ask Prometheus for exemplars (trace ids) along with the series.
    pub exemplar: bool,
}

impl Target {
    /// A range query with a legend.
    pub fn new(expr: impl Into<String>, legend: impl Into<String>) -> Target {
        Target {
            expr: expr.into(),
            legend: legend.into(),
            instant: false,
            heatmap: false,
            exemplar: false,
        }
    }

    /// The same query, instant.
    pub fn instant(mut self) -> Target {
        self.instant = true;
        self
    }

    /// The same query, in heatmap format.
    pub fn heatmap(mut self) -> Target {
        self.heatmap = true;
        self
    }

    /// The same query, with exemplars.
    pub fn exemplar(mut self) -> Target {
        self.exemplar = true;
        self
    }
}

/// How a panel draws its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Lines over time.
    TimeSeries,
    /// Buckets over time, coloured by count.
    Heatmap,
    /// Horizontal bars, one per series (top-N lists).
    BarsHorizontal,
    /// Vertical bars, one per bucket (a histogram).
    BarsVertical,
    /// Log lines.
    Logs,
    /// A table (Tempo trace search results).
    Table,
}

/// One panel.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title shown on the panel.
    pub title: String,
    /// The panel's info tooltip: what it shows and how to read it.
    pub description: String,
    /// How it is drawn.
    pub kind: Kind,
    /// Where its queries go.
    pub source: Source,
    /// Grafana unit id (`Bps`, `s`, `percentunit`, `reqps`, `short`).
    pub unit: &'static str,
    /// Width in grid columns (of 24).
    pub width: u32,
    /// Its queries.
    pub targets: Vec<Target>,
}

impl Panel {
    /// A Prometheus time-series panel, 12 columns wide.
    pub fn new(title: &str, description: &str, unit: &'static str, targets: Vec<Target>) -> Panel {
        Panel {
            title: title.to_owned(),
            description: description.to_owned(),
            kind: Kind::TimeSeries,
            source: Source::Prometheus,
            unit,
            width: 12,
            targets,
        }
    }

    /// The same panel drawn as `kind`.
    pub fn kind(mut self, kind: Kind) -> Panel {
        self.kind = kind;
        self
    }

    /// The same panel querying `source`.
    pub fn source(mut self, source: Source) -> Panel {
        self.source = source;
        self
    }

    /// The same panel, `width` columns wide.
    pub fn width(mut self, width: u32) -> Panel {
        self.width = width;
        self
    }

    fn plugin(&self) -> &'static str {
        match self.kind {
            Kind::TimeSeries => "timeseries",
            Kind::Heatmap => "heatmap",
            Kind::BarsHorizontal | Kind::BarsVertical => "bargauge",
            Kind::Logs => "logs",
            Kind::Table => "table",
        }
    }

    fn options(&self) -> Value {
        match self.kind {
            Kind::TimeSeries => json!({
                "legend": { "displayMode": "table", "placement": "right", "calcs": ["mean", "max"], "showLegend": true },
                "tooltip": { "mode": "multi", "sort": "desc" }
            }),
            Kind::Heatmap => json!({
                "calculate": false,
                "cellGap": 1,
                "color": { "mode": "scheme", "scheme": "Oranges", "steps": 64, "exponent": 0.5, "fill": "dark-orange", "reverse": false },
                "exemplars": { "color": "rgba(255,0,255,0.7)" },
                "filterValues": { "le": 1e-9 },
                "legend": { "show": true },
                "rowsFrame": { "layout": "le" },
                "tooltip": { "mode": "single", "yHistogram": true },
                "yAxis": { "axisPlacement": "left", "unit": self.unit }
            }),
            Kind::BarsHorizontal | Kind::BarsVertical => json!({
                "displayMode": "gradient",
                "orientation": if self.kind == Kind::BarsHorizontal { "horizontal" } else { "vertical" },
                "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false },
                "showUnfilled": true,
                "valueMode": "color"
            }),
            Kind::Logs => json!({
                "dedupStrategy": "none",
                "enableLogDetails": true,
                "prettifyLogMessage": false,
                "showCommonLabels": false,
                "showLabels": false,
                "showTime": true,
                "sortOrder": "Descending",
                "wrapLogMessage": true
            }),
            Kind::Table => json!({ "cellHeight": "sm", "showHeader": true }),
        }
    }

    fn target_json(&self, t: &Target, ref_id: char) -> Value {
        let mut v = json!({
            "refId": ref_id.to_string(),
            "datasource": self.source.reference(),
        });
        let m = v.as_object_mut().expect("a json object literal");
        match self.source {
            Source::Prometheus => {
                m.insert("expr".into(), json!(t.expr));
                m.insert("legendFormat".into(), json!(t.legend));
                m.insert("range".into(), json!(!t.instant));
                m.insert("instant".into(), json!(t.instant));
                m.insert("exemplar".into(), json!(t.exemplar));
                m.insert(
                    "format".into(),
                    json!(if t.heatmap { "heatmap" } else { "time_series" }),
                );
                m.insert("editorMode".into(), json!("code"));
            }
            Source::Loki => {
                m.insert("expr".into(), json!(t.expr));
                m.insert("legendFormat".into(), json!(t.legend));
                m.insert("queryType".into(), json!("range"));
                m.insert("editorMode".into(), json!("code"));
            }
            Source::Tempo => {
                m.insert("query".into(), json!(t.expr));
                m.insert("queryType".into(), json!("traceql"));
                m.insert("tableType".into(), json!("traces"));
                m.insert("limit".into(), json!(20));
            }
        }
        v
    }

    fn to_json(&self, id: u32, x: u32, y: u32, height: u32) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .zip('A'..='Z')
            .map(|(t, r)| self.target_json(t, r))
            .collect();
        json!({
            "id": id,
            "type": self.plugin(),
            "title": self.title,
            "description": self.description,
            "datasource": self.source.reference(),
            "gridPos": { "h": height, "w": self.width, "x": x, "y": y },
            "fieldConfig": { "defaults": { "unit": self.unit }, "overrides": [] },
            "options": self.options(),
            "targets": targets,
        })
    }
}

/// A titled row of panels.
#[derive(Debug, Clone)]
pub struct Row {
    /// Row title.
    pub title: String,
    /// Its panels, laid out left to right, wrapping at 24 columns.
    pub panels: Vec<Panel>,
}

impl Row {
    /// A row of panels.
    pub fn new(title: &str, panels: Vec<Panel>) -> Row {
        Row {
            title: title.to_owned(),
            panels,
        }
    }
}

/// A template variable.
#[derive(Debug, Clone)]
pub enum Variable {
    /// Picks a data source instance of a type (`prometheus`, `loki`, `tempo`).
    Datasource {
        /// Variable name, as referenced by panels (`datasource`, `loki`, `tempo`).
        source: Source,
        /// Shown in the variable bar.
        label: &'static str,
    },
    /// Values of a label, from a Prometheus `label_values(selector, label)` query;
    /// multi-valued, "All" meaning `.*` (which also matches series without the label).
    Label {
        /// Variable name, as referenced by queries (`$host`).
        name: &'static str,
        /// Shown in the variable bar.
        label: &'static str,
        /// The `label_values(...)` query.
        query: String,
    },
}

impl Variable {
    /// The variable's name.
    pub fn name(&self) -> &str {
        match self {
            Variable::Datasource { source, .. } => source.variable(),
            Variable::Label { name, .. } => name,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Variable::Datasource { source, label } => json!({
                "type": "datasource",
                "name": source.variable(),
                "label": label,
                "query": source.plugin(),
                "current": {},
                "hide": 0,
                "includeAll": false,
                "multi": false,
                "options": [],
                "refresh": 1,
                "regex": "",
                "skipUrlSync": false
            }),
            Variable::Label { name, label, query } => json!({
                "type": "query",
                "name": name,
                "label": label,
                "datasource": Source::Prometheus.reference(),
                "definition": query,
                "query": { "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1 },
                "current": { "selected": true, "text": ["All"], "value": ["$__all"] },
                "hide": 0,
                "includeAll": true,
                "allValue": ".*",
                "multi": true,
                "options": [],
                "refresh": 2,
                "regex": "",
                "skipUrlSync": false,
                "sort": 1
            }),
        }
    }
}

/// A dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Stable uid: links and provisioning refer to it; also the file name.
    pub uid: &'static str,
    /// Title.
    pub title: &'static str,
    /// What it answers.
    pub description: &'static str,
    /// Template variables, in the order shown.
    pub variables: Vec<Variable>,
    /// Rows of panels, top to bottom.
    pub rows: Vec<Row>,
}

/// Panel height in grid rows.
const PANEL_HEIGHT: u32 = 8;

impl Dashboard {
    /// Every panel, row by row.
    pub fn panels(&self) -> impl Iterator<Item = &Panel> {
        self.rows.iter().flat_map(|r| r.panels.iter())
    }

    /// The JSON Grafana imports (Dashboards → New → Import, or file provisioning).
    pub fn to_json(&self) -> Value {
        let mut panels = Vec::new();
        let mut id = 1;
        let mut y = 0;
        for row in &self.rows {
            panels.push(json!({
                "id": id, "type": "row", "title": row.title, "collapsed": false,
                "gridPos": { "h": 1, "w": 24, "x": 0, "y": y }, "panels": []
            }));
            id += 1;
            y += 1;
            let mut x = 0;
            for p in &row.panels {
                if x + p.width > 24 {
                    x = 0;
                    y += PANEL_HEIGHT;
                }
                panels.push(p.to_json(id, x, y, PANEL_HEIGHT));
                id += 1;
                x += p.width;
            }
            y += PANEL_HEIGHT;
        }
        json!({
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["sonde", "ebpf", "network"],
            "editable": true,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": { "from": "now-1h", "to": "now" },
            "timepicker": {},
            "timezone": "",
            "annotations": { "list": [] },
            "links": [{
                "type": "dashboards", "tags": ["sonde"], "title": "Sonde dashboards",
                "asDropdown": true, "includeVars": true, "keepTime": true, "icon": "external link",
                "targetBlank": false, "tooltip": "", "url": ""
            }],
            "templating": { "list": self.variables.iter().map(Variable::to_json).collect::<Vec<_>>() },
            "panels": panels,
        })
    }
}
