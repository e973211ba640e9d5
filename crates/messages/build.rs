//! Generates the Rust types of the message contracts from the JSON Schemas in `proto-schemas/`.

use std::error::Error;
use std::fs;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let schema_dir = manifest_dir.join("../../proto-schemas/v1");
    println!("cargo:rerun-if-changed={}", schema_dir.display());

    let mut files: Vec<PathBuf> = fs::read_dir(&schema_dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();

    let mut space =
        typify::TypeSpace::new(typify::TypeSpaceSettings::default().with_struct_builder(false));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let text = fs::read_to_string(file)?;
        let schema: schemars::schema::RootSchema = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a JSON Schema: {e}", file.display()))?;
        space
            .add_root_schema(schema)
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let syntax: syn::File = syn::parse2(space.to_stream())?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("contracts.rs");
    fs::write(out, prettyplease::unparse(&syntax))?;
    Ok(())
}
