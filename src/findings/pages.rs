//! The documentation page of every finding code, built into the binary, so
//! `meshc rule CODE` prints it where the docs are not at hand (ruff's
//! `ruff rule`). The pages are `docs/findings/<CODE>.md`, generated with a
//! tested example and its fix by `tests/findings_examples.rs`; a test here
//! keeps this list equal to [`super::codes::ALL`].

macro_rules! pages {
    ($($id:ident),* $(,)?) => {
        /// The Markdown page of the code `id` (`MESH3005`), without its generated-file comment.
        pub fn page(id: &str) -> Option<&'static str> {
            let text = match id {
                $(stringify!($id) => include_str!(concat!("../../docs/findings/", stringify!($id), ".md")),)*
                _ => return None,
            };
            Some(strip_comment(text))
        }

        #[cfg(test)]
        const IDS: &[&str] = &[$(stringify!($id)),*];
    };
}

pages!(
    MESH0001, MESH0002, MESH0003, MESH0004, MESH0005, MESH0006, MESH0007, MESH0008, MESH0009, MESH0010, MESH0011,
    MESH0012, MESH0013, MESH0014, MESH1001, MESH1002, MESH1003, MESH1004, MESH1005, MESH1006, MESH2001, MESH2002,
    MESH2003, MESH2004, MESH2005, MESH2006, MESH2099, MESH3001, MESH3002, MESH3003, MESH3004, MESH3005, MESH3006,
    MESH3007, MESH3008, MESH3009, MESH3010, MESH3011, MESH3012, MESH3099, MESH4001, MESH4002, MESH4003, MESH4004,
    MESH4005, MESH5001, MESH5002, MESH5003, MESH5004, MESH5005, MESH5006, MESH5007, MESH5008, MESH5009, MESH5010,
    MESH5011, MESH5012, MESH5013, MESH5014, MESH5015, MESH5016, MESH5017, MESH5018, MESH6001, MESH6002, MESH9001,
);

fn strip_comment(text: &str) -> &str {
    match text.strip_prefix("<!--").and_then(|t| t.split_once("-->")) {
        Some((_, rest)) => rest.trim_start(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_page_built_in() {
        let mut ids: Vec<&str> = super::super::codes::ALL.iter().map(|c| c.id).collect();
        ids.sort();
        assert_eq!(IDS, ids.as_slice(), "list every code of codes::ALL in pages!(...), sorted");
        for id in ids {
            let page = page(id).unwrap_or_else(|| panic!("{id}"));
            assert!(page.starts_with(&format!("# {id}: ")), "{id}: {}", &page[..40.min(page.len())]);
        }
        assert_eq!(page("MESH0000"), None);
    }
}
