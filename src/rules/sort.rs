//! Kuma's ordering of matched policies (reference §3.4): ascending, least
//! specific first, so that later entries win when merged.
//!
//! `SortByTargetRef` (`core/matchers/dataplane.go`), `CompareByPolicyAttributes`
//! (`core/rules/sort/sort.go`) and `CompareByToEntry` (`core/rules/outbound/sort.go`).

use std::cmp::Ordering;

use crate::model::choice::KumaEnum;
use crate::model::common::{TargetRef, TargetRefKind};

use super::policy::Policy;

/// Origin rank: `global` < no label < `zone` (`ResourceOrigin.Compare`).
fn origin_rank(p: &Policy) -> u8 {
    match p.resource.meta.origin() {
        Some("global") => 1,
        Some("zone") => 3,
        _ => 2,
    }
}

/// `CompareDataplaneKind`: among `Dataplane` refs, by name beats by labels, and
/// with `sectionName` beats without.
fn dataplane_specificity(r: &TargetRef) -> (u8, u8) {
    let by_name = u8::from(!r.name().is_empty());
    let section = u8::from(r.section_name.as_deref().is_some_and(|s| !s.is_empty()));
    (by_name, section)
}

/// The policy-level steps shared by every view: top-level kind, Dataplane
/// specificity, origin, role (`CompareByPolicyAttributes`).
pub fn compare_attributes(a: &Policy, b: &Policy) -> Ordering {
    a.top_kind()
        .specificity()
        .cmp(&b.top_kind().specificity())
        .then_with(|| compare_dataplane_refs(a, b))
        .then_with(|| origin_rank(a).cmp(&origin_rank(b)))
        .then_with(|| a.role().cmp(&b.role()))
}

/// Both top-level `Dataplane`: [`dataplane_specificity`] decides.
fn compare_dataplane_refs(a: &Policy, b: &Policy) -> Ordering {
    if a.top_kind() == TargetRefKind::Dataplane && b.top_kind() == TargetRefKind::Dataplane {
        dataplane_specificity(&a.top).cmp(&dataplane_specificity(&b.top))
    } else {
        Ordering::Equal
    }
}

/// Display name reversed: the lexicographically smaller name sorts later and wins.
pub fn compare_names(a: &Policy, b: &Policy) -> Ordering {
    b.name().cmp(a.name())
}

/// The order of policies matched by a proxy (`SortByTargetRef`), which also
/// orders inbound rules and single-item rules.
pub fn compare_policies(a: &Policy, b: &Policy) -> Ordering {
    // As `compare_attributes`, with the MeshGateway tag count between origin and role.
    let (ka, kb) = (a.top_kind(), b.top_kind());
    ka.specificity()
        .cmp(&kb.specificity())
        .then_with(|| compare_dataplane_refs(a, b))
        .then_with(|| origin_rank(a).cmp(&origin_rank(b)))
        .then_with(|| {
            if ka == TargetRefKind::MeshGateway && kb == TargetRefKind::MeshGateway {
                let tags = |p: &Policy| p.top.tags.as_ref().map_or(0, |t| t.len());
                tags(a).cmp(&tags(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| a.role().cmp(&b.role()))
        .then_with(|| compare_names(a, b))
}

/// `CompareByToEntry`: the `to[]` item's kind, then for MeshService an item with
/// `sectionName` beats one without.
pub fn compare_to_refs(a: &TargetRef, b: &TargetRef) -> Ordering {
    let kind = |r: &TargetRef| r.kind().map_or(0, TargetRefKind::specificity);
    kind(a).cmp(&kind(b)).then_with(|| {
        if a.is(TargetRefKind::MeshService) && b.is(TargetRefKind::MeshService) {
            let section = |r: &TargetRef| u8::from(r.section_name.as_deref().is_some_and(|s| !s.is_empty()));
            section(a).cmp(&section(b))
        } else {
            Ordering::Equal
        }
    })
}

/// The order of outbound (`to[]`) entries for resource rules: policy attributes,
/// then the entry's targetRef, then the reversed display name. Stable, so within
/// one policy a later `to[]` item wins.
pub fn compare_to_entries(a: (&Policy, &TargetRef), b: (&Policy, &TargetRef)) -> Ordering {
    compare_attributes(a.0, b.0).then_with(|| compare_to_refs(a.1, b.1)).then_with(|| compare_names(a.0, b.0))
}

/// Why `winner` comes after `loser` in Kuma's merge order, as a reader of
/// `meshc report` needs it: the first step that tells them apart, of
/// [`compare_to_entries`] for `to[]` items (both targetRefs given), else of
/// [`compare_policies`].
pub fn why_later(loser: (&Policy, Option<&TargetRef>), winner: (&Policy, Option<&TargetRef>)) -> String {
    let (a, b) = (loser.0, winner.0);
    if std::ptr::eq(a.resource, b.resource) {
        return "a later item of the same policy wins".to_string();
    }
    let (ka, kb) = (a.top_kind(), b.top_kind());
    if ka.specificity() != kb.specificity() {
        return format!("its top-level targetRef ({}) is more specific than {}", kb.name(), ka.name());
    }
    if compare_dataplane_refs(a, b) != Ordering::Equal {
        return "its Dataplane targetRef is more specific (by name, or with a sectionName)".to_string();
    }
    if origin_rank(a) != origin_rank(b) {
        let origin = |p: &Policy| p.resource.meta.origin().unwrap_or("none").to_string();
        return format!("kuma.io/origin {} beats {}", origin(b), origin(a));
    }
    let role = || (a.role() != b.role()).then(|| format!("the {} role beats {}", b.role().name(), a.role().name()));
    match (loser.1, winner.1) {
        (Some(ra), Some(rb)) => {
            if let Some(why) = role() {
                return why;
            }
            if compare_to_refs(ra, rb) != Ordering::Equal {
                let kind = |r: &TargetRef| r.kind().map_or("?", |k| k.name());
                return format!("its to[] targetRef ({}) is more specific than {}", kind(rb), kind(ra));
            }
        }
        _ => {
            let tags = |p: &Policy| p.top.tags.as_ref().map_or(0, |t| t.len());
            if ka == TargetRefKind::MeshGateway && kb == TargetRefKind::MeshGateway && tags(a) != tags(b) {
                return "its MeshGateway targetRef has more tags".to_string();
            }
            if let Some(why) = role() {
                return why;
            }
        }
    }
    if compare_names(a, b) == Ordering::Less {
        format!("equally specific: the smaller name wins (`{}` < `{}`)", b.name(), a.name())
    } else {
        "equal in every step Kuma compares: the later one in the merge order wins".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Resource;

    fn policies(yaml: &str) -> Vec<Resource> {
        crate::validate::run_texts(vec![("t.yaml".into(), yaml.into())], &Default::default()).resources
    }

    fn names(mut list: Vec<Policy>) -> Vec<String> {
        list.sort_by(compare_policies);
        list.iter().map(|p| p.name().to_string()).collect()
    }

    #[test]
    fn smaller_name_sorts_last_and_wins() {
        let rs = policies(
            "type: MeshTimeout\nname: aaa\nmesh: default\nspec:\n  targetRef: {kind: Mesh}\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}]\n---\n\
             type: MeshTimeout\nname: bbb\nmesh: default\nspec:\n  targetRef: {kind: Mesh}\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 2s}}]\n",
        );
        let list = rs.iter().filter_map(Policy::of).collect();
        assert_eq!(names(list), ["bbb", "aaa"]);
    }

    #[test]
    fn top_level_kind_dominates_origin_and_name() {
        let rs = policies(
            "type: MeshTimeout\nname: a-mesh\nmesh: default\nlabels: {kuma.io/origin: zone}\nspec:\n  targetRef: {kind: Mesh}\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}]\n---\n\
             type: MeshTimeout\nname: z-subset\nmesh: default\nlabels: {kuma.io/origin: global}\nspec:\n  targetRef: {kind: MeshSubset, tags: {a: b}}\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 2s}}]\n",
        );
        let list = rs.iter().filter_map(Policy::of).collect();
        assert_eq!(names(list), ["a-mesh", "z-subset"]);
    }

    #[test]
    fn why_later_names_the_deciding_step() {
        let rs = policies(
            "type: MeshTimeout\nname: aaa\nmesh: default\nspec:\n  targetRef: {kind: Mesh}\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}]\n---\n\
             type: MeshTimeout\nname: bbb\nmesh: default\nspec:\n  targetRef: {kind: Mesh}\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 2s}}]\n---\n\
             type: MeshTimeout\nname: zzz\nmesh: default\nlabels: {kuma.io/origin: global}\nspec:\n  targetRef: {kind: MeshSubset, tags: {a: b}}\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 2s}}]\n",
        );
        let list: Vec<Policy> = rs.iter().filter_map(Policy::of).collect();
        let by = |n: &str| list.iter().find(|p| p.name() == n).unwrap();
        assert_eq!(
            why_later((by("bbb"), None), (by("aaa"), None)),
            "equally specific: the smaller name wins (`aaa` < `bbb`)"
        );
        assert_eq!(
            why_later((by("aaa"), None), (by("zzz"), None)),
            "its top-level targetRef (MeshSubset) is more specific than Mesh"
        );
    }
}
