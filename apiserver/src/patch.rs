//! JSON merge patch (RFC 7386) and the strategic merge patch cases a
//! scheduler and kubectl use.

use serde_json::Value;

/// Applies an RFC 7386 merge patch: objects merge, `null` deletes, anything
/// else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// List fields that strategic merge patch merges by a key instead of
/// replacing, as the Kubernetes types declare (`patchMergeKey`).
const MERGE_KEYS: &[(&str, &str)] = &[
    ("conditions", "type"),
    ("containers", "name"),
    ("initContainers", "name"),
    ("tolerations", "key"),
    ("taints", "key"),
    ("ownerReferences", "uid"),
];

/// Applies a strategic merge patch: like [`merge`], except that the lists in
/// [`MERGE_KEYS`] merge item by item on their key, and `$patch: delete` items
/// remove theirs.
pub fn strategic(target: &mut Value, patch: &Value) {
    let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) else {
        *target = patch.clone();
        return;
    };
    for (k, v) in p {
        if k.starts_with("$setElementOrder") || k == "$retainKeys" {
            continue;
        }
        let key = MERGE_KEYS.iter().find(|(f, _)| f == k).map(|(_, key)| *key);
        match (key, t.get_mut(k), v) {
            (_, _, Value::Null) => {
                t.remove(k);
            }
            (Some(key), Some(Value::Array(existing)), Value::Array(items)) => {
                for item in items {
                    let id = &item[key];
                    let pos = existing.iter().position(|e| &e[key] == id);
                    let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            existing.remove(i);
                        }
                        (Some(i), false) => strategic(&mut existing[i], item),
                        (None, false) => existing.push(item.clone()),
                        (None, true) => {}
                    }
                }
            }
            (_, Some(existing @ Value::Object(_)), Value::Object(_)) => strategic(existing, v),
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null_and_replaces_lists() {
        let mut o = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        merge(&mut o, &json!({"a": null, "b": {"c": 5}, "l": [9]}));
        assert_eq!(o, json!({"b": {"c": 5, "d": 3}, "l": [9]}));
    }

    #[test]
    fn strategic_patch_merges_conditions_by_type() {
        let mut pod = json!({"status": {"phase": "Pending", "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "PodScheduled", "status": "True"}]}});
        strategic(
            &mut pod,
            &json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}),
        );
        assert_eq!(
            pod["status"]["conditions"],
            json!([
            {"type": "Ready", "status": "False"},
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}])
        );
        assert_eq!(pod["status"]["phase"], "Pending");
    }
}
