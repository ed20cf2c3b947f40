//! Writes every dashboard of `sonde_otel_examples::dashboards` to
//! `otel-examples/grafana/dashboards/<uid>.json`. Run it after changing a dashboard or a
//! semconv name, and commit the result: the tests compare the files with what this renders.

fn main() -> std::io::Result<()> {
    let dir = sonde_otel_examples::dashboards_dir();
    std::fs::create_dir_all(&dir)?;
    for d in sonde_otel_examples::dashboards::all() {
        let path = dir.join(sonde_otel_examples::file_name(&d));
        std::fs::write(&path, sonde_otel_examples::render(&d))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
