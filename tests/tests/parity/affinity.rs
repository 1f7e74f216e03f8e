//! InterPodAffinity against upstream's `filtering_test.go`
//! (`TestRequiredAffinitySingleNode`) and `scoring_test.go` (`TestPreferredAffinity`).

use super::{Verdict, fails, instance_with_pods};
use wasm_scheduler::runtime::wit::Code;
use wasm_scheduler_sdk::fixtures::{node, pod};
use wasm_scheduler_sdk::types::{
    LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, Pod, PodAffinity,
    PodAffinityTerm, WeightedPodAffinityTerm,
};
use wasm_scheduler_tests::{FixtureNode, rejected};

use LabelSelectorOperator::{DoesNotExist, Exists, In, NotIn};

fn req(key: &str, operator: LabelSelectorOperator, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.into(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

/// A term selecting pods by `expressions`, in the owner's namespace, per `key`.
fn term(expressions: Vec<LabelSelectorRequirement>, key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Vec::new(),
            match_expressions: expressions,
        }),
        namespaces: Vec::new(),
        namespace_selector: None,
        topology_key: key.into(),
        match_label_keys: Vec::new(),
        mismatch_label_keys: Vec::new(),
    }
}

fn required(terms: Vec<PodAffinityTerm>) -> Option<PodAffinity> {
    Some(PodAffinity {
        required: terms,
        preferred: Vec::new(),
    })
}

fn preferred(terms: Vec<(i32, PodAffinityTerm)>) -> Option<PodAffinity> {
    Some(PodAffinity {
        required: Vec::new(),
        preferred: terms
            .into_iter()
            .map(|(weight, term)| WeightedPodAffinityTerm { weight, term })
            .collect(),
    })
}

/// A pod with one label and the given affinity and anti-affinity.
fn labelled(label: (&str, &str), affinity: Option<PodAffinity>, anti: Option<PodAffinity>) -> Pod {
    let mut p = pod("p").with_label(label.0, label.1);
    p.pod_affinity = affinity;
    p.pod_anti_affinity = anti;
    p
}

/// `TestRequiredAffinitySingleNode`, its first 14 cases. Upstream has since
/// given each status one reason (the old tables add a generic "didn't match
/// pod affinity/anti-affinity" first); the reasons here are the current ones.
#[test]
fn inter_pod_affinity_filter_as_upstream() {
    let security_scan = ("service", "securityscan");
    let s1 = ("security", "S1");
    let node1: FixtureNode = node("machine1")
        .with_label("region", "r1")
        .with_label("zone", "z11")
        .into();
    let scan_in_region = || {
        term(
            vec![req("service", In, &["securityscan", "value2"])],
            "region",
        )
    };
    let antivirus_on_node = || {
        term(
            vec![req("service", In, &["antivirusscan", "value2"])],
            "node",
        )
    };
    let existing = |label: (&str, &str), anti: Option<PodAffinity>| {
        let mut p = labelled(label, None, anti);
        p.name = "existing".into();
        p
    };
    let affinity_fails = fails(
        Code::UnschedulableAndUnresolvable,
        "node(s) didn't match pod affinity rules",
    );
    let mut other_namespace = existing(security_scan, None);
    other_namespace.namespace = "ns".into();
    let mut diff_namespace = term(vec![req("service", In, &["securityscan", "value2"])], "");
    diff_namespace.namespaces = vec!["DiffNameSpace".into()];
    let cases: Vec<(&str, Pod, Vec<Pod>, Verdict)> = vec![
        (
            "A pod that has no required pod affinity scheduling rules can schedule onto a node with no existing pods",
            pod("p"),
            vec![],
            None,
        ),
        (
            "satisfies with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using In operator that matches the existing pod",
            labelled(s1, required(vec![scan_in_region()]), None),
            vec![existing(security_scan, None)],
            None,
        ),
        (
            "satisfies the pod with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using not in operator in labelSelector that matches the existing pod",
            labelled(
                s1,
                required(vec![term(
                    vec![req("service", NotIn, &["securityscan3", "value3"])],
                    "region",
                )]),
                None,
            ),
            vec![existing(security_scan, None)],
            None,
        ),
        (
            "Does not satisfy the PodAffinity with labelSelector because of diff Namespace",
            labelled(s1, required(vec![diff_namespace]), None),
            vec![other_namespace],
            affinity_fails.clone(),
        ),
        (
            "Doesn't satisfy the PodAffinity because of unmatching labelSelector with the existing pod",
            labelled(
                security_scan,
                required(vec![term(
                    vec![req("service", In, &["antivirusscan", "value2"])],
                    "",
                )]),
                None,
            ),
            vec![existing(security_scan, None)],
            affinity_fails.clone(),
        ),
        (
            "satisfies the PodAffinity with different label Operators in multiple RequiredDuringSchedulingIgnoredDuringExecution ",
            labelled(
                s1,
                required(vec![
                    term(
                        vec![
                            req("service", Exists, &[]),
                            req("wrongkey", DoesNotExist, &[]),
                        ],
                        "region",
                    ),
                    term(
                        vec![
                            req("service", In, &["securityscan"]),
                            req("service", NotIn, &["WrongValue"]),
                        ],
                        "region",
                    ),
                ]),
                None,
            ),
            vec![existing(security_scan, None)],
            None,
        ),
        (
            "The labelSelector requirements(items of matchExpressions) are ANDed, the pod cannot schedule onto the node because one of the matchExpression item don't match.",
            labelled(
                s1,
                required(vec![
                    term(
                        vec![
                            req("service", Exists, &[]),
                            req("wrongkey", DoesNotExist, &[]),
                        ],
                        "region",
                    ),
                    term(
                        vec![
                            req("service", In, &["securityscan2"]),
                            req("service", NotIn, &["WrongValue"]),
                        ],
                        "region",
                    ),
                ]),
                None,
            ),
            vec![existing(security_scan, None)],
            affinity_fails.clone(),
        ),
        (
            "satisfies the PodAffinity and PodAntiAffinity with the existing pod",
            labelled(
                s1,
                required(vec![scan_in_region()]),
                required(vec![antivirus_on_node()]),
            ),
            vec![existing(security_scan, None)],
            None,
        ),
        (
            "satisfies the PodAffinity and PodAntiAffinity and PodAntiAffinity symmetry with the existing pod",
            labelled(
                s1,
                required(vec![scan_in_region()]),
                required(vec![antivirus_on_node()]),
            ),
            vec![existing(security_scan, required(vec![antivirus_on_node()]))],
            None,
        ),
        (
            "satisfies the PodAffinity but doesn't satisfy the PodAntiAffinity with the existing pod",
            labelled(
                s1,
                required(vec![scan_in_region()]),
                required(vec![term(
                    vec![req("service", In, &["securityscan", "value2"])],
                    "zone",
                )]),
            ),
            vec![existing(security_scan, None)],
            fails(
                Code::Unschedulable,
                "node(s) didn't match pod anti-affinity rules",
            ),
        ),
        (
            "satisfies the PodAffinity and PodAntiAffinity but doesn't satisfy PodAntiAffinity symmetry with the existing pod",
            labelled(
                security_scan,
                required(vec![scan_in_region()]),
                required(vec![antivirus_on_node()]),
            ),
            vec![existing(
                security_scan,
                required(vec![term(
                    vec![req("service", In, &["securityscan", "value2"])],
                    "zone",
                )]),
            )],
            fails(
                Code::Unschedulable,
                "node(s) didn't satisfy existing pods anti-affinity rules",
            ),
        ),
        (
            // Upstream's existing pod runs on a node outside the table; it matches nothing either way.
            "pod matches its own Label in PodAffinity and that matches the existing pod Labels",
            labelled(
                security_scan,
                required(vec![term(
                    vec![req("service", NotIn, &["securityscan", "value2"])],
                    "region",
                )]),
                None,
            ),
            vec![],
            affinity_fails.clone(),
        ),
        (
            "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. doesn't satisfy PodAntiAffinity symmetry with the existing pod",
            labelled(security_scan, None, None),
            vec![existing(
                security_scan,
                required(vec![term(
                    vec![req("service", In, &["securityscan", "value2"])],
                    "zone",
                )]),
            )],
            fails(
                Code::Unschedulable,
                "node(s) didn't satisfy existing pods anti-affinity rules",
            ),
        ),
        (
            "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. satisfy PodAntiAffinity symmetry with the existing pod",
            labelled(security_scan, None, None),
            vec![existing(
                security_scan,
                required(vec![term(
                    vec![req("service", NotIn, &["securityscan", "value2"])],
                    "zone",
                )]),
            )],
            None,
        ),
    ];
    assert!(cases.len() >= 10);
    for (case, p, running, want) in cases {
        let pods: Vec<(usize, Pod)> = running.into_iter().map(|r| (0, r)).collect();
        let result = instance_with_pods(
            "inter-pod-affinity",
            "InterPodAffinity",
            std::slice::from_ref(&node1),
            &pods,
            &p,
        )
        .filter(&[0])
        .expect("filter");
        let got = rejected(&result)
            .into_iter()
            .next()
            .map(|(_, code, reasons)| (code, reasons));
        assert_eq!(got, want, "{case}");
    }
}

/// `TestPreferredAffinity`: every case but those needing namespace labels
/// (`team`; the contract carries none) or label-value validation.
#[test]
fn inter_pod_affinity_score_as_upstream() {
    let china = || node("n").with_label("region", "China");
    let india = || node("n").with_label("region", "India");
    let az = |zone: &str| node("n").with_label("az", zone);
    let china_az1 = || china().with_label("az", "az1");
    let s1 = ("security", "S1");
    let s2 = ("security", "S2");
    let stay_s1_region = || {
        preferred(vec![(
            5,
            term(vec![req("security", In, &["S1"])], "region"),
        )])
    };
    let stay_s2_region = || {
        preferred(vec![(
            6,
            term(vec![req("security", In, &["S2"])], "region"),
        )])
    };
    let affinity3 = || {
        preferred(vec![
            (
                8,
                term(
                    vec![
                        req("security", NotIn, &["S1"]),
                        req("security", In, &["S2"]),
                    ],
                    "region",
                ),
            ),
            (
                2,
                term(
                    vec![
                        req("security", Exists, &[]),
                        req("wrongkey", DoesNotExist, &[]),
                    ],
                    "region",
                ),
            ),
        ])
    };
    let hard = || {
        required(vec![
            term(vec![req("security", In, &["S1", "value2"])], "region"),
            term(
                vec![
                    req("security", Exists, &[]),
                    req("wrongkey", DoesNotExist, &[]),
                ],
                "region",
            ),
        ])
    };
    let away_s1_az = || preferred(vec![(5, term(vec![req("security", In, &["S1"])], "az"))]);
    let away_s2_az = || preferred(vec![(5, term(vec![req("security", In, &["S2"])], "az"))]);
    let with_s1_away_s2 = |label: (&str, &str)| {
        labelled(
            label,
            preferred(vec![(
                8,
                term(vec![req("security", In, &["S1"])], "region"),
            )]),
            away_s2_az(),
        )
    };
    let plain = |label: (&str, &str)| labelled(label, None, None);
    let unlabelled = |affinity: Option<PodAffinity>, anti: Option<PodAffinity>| {
        let mut p = pod("existing");
        p.pod_affinity = affinity;
        p.pod_anti_affinity = anti;
        p
    };
    type Case<'a> = (
        &'a str,
        Pod,
        Vec<(usize, Pod)>,
        Vec<wasm_scheduler_sdk::types::Node>,
        Vec<i64>,
    );
    let cases: Vec<Case> = vec![
        (
            "all nodes are same priority as Affinity is nil",
            plain(s1),
            vec![],
            vec![china(), india(), az("az1")],
            vec![0, 0, 0],
        ),
        (
            "Affinity: pod that matches topology key & pods in nodes will get high score comparing to otherswhich doesn't match either pods in nodes or in topology key",
            labelled(s1, stay_s1_region(), None),
            vec![(0, plain(s1)), (1, plain(s2)), (2, plain(s1))],
            vec![china(), india(), az("az1")],
            vec![100, 0, 0],
        ),
        (
            "All the nodes that have the same topology key & label value with one of them has an existing pod that match the affinity rules, have the same score",
            unlabelled(stay_s1_region(), None),
            vec![(0, plain(s1))],
            vec![china(), china_az1(), india()],
            vec![100, 100, 0],
        ),
        (
            "Affinity: nodes in one region has more matching pods comparing to other region, so the region which has more matches will get high score",
            labelled(s1, stay_s2_region(), None),
            vec![
                (0, plain(s2)),
                (0, plain(s2)),
                (1, plain(s2)),
                (2, plain(s2)),
                (3, plain(s2)),
                (4, plain(s2)),
            ],
            vec![china(), india(), china(), china(), india()],
            vec![100, 0, 100, 100, 0],
        ),
        (
            "Affinity: different Label operators and values for pod affinity scheduling preference, including some match failures ",
            labelled(s1, affinity3(), None),
            vec![(0, plain(s1)), (1, plain(s2)), (2, plain(s1))],
            vec![china(), india(), az("az1")],
            vec![20, 100, 0],
        ),
        (
            "Affinity symmetry: considered only the preferredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry",
            plain(s2),
            vec![
                (0, labelled(s1, stay_s1_region(), None)),
                (1, labelled(s2, stay_s2_region(), None)),
            ],
            vec![china(), india(), az("az1")],
            vec![0, 100, 0],
        ),
        (
            "Affinity symmetry: considered RequiredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry",
            plain(s1),
            vec![
                (0, labelled(s1, hard(), None)),
                (1, labelled(s2, hard(), None)),
            ],
            vec![china(), india(), az("az1")],
            vec![100, 100, 0],
        ),
        (
            "Anti Affinity: pod that does not match existing pods in node will get high score ",
            labelled(s1, None, away_s1_az()),
            vec![(0, plain(s1)), (1, plain(s2))],
            vec![az("az1"), china()],
            vec![0, 100],
        ),
        (
            "Anti Affinity: pod that does not match topology key & match the pods in nodes will get higher score comparing to others ",
            labelled(s1, None, away_s1_az()),
            vec![(0, plain(s1)), (1, plain(s1))],
            vec![az("az1"), china()],
            vec![0, 100],
        ),
        (
            "Anti Affinity: one node has more matching pods comparing to other node, so the node which has more unmatches will get high score",
            labelled(s1, None, away_s1_az()),
            vec![(0, plain(s1)), (0, plain(s1)), (1, plain(s2))],
            vec![az("az1"), india()],
            vec![0, 100],
        ),
        (
            "Anti Affinity symmetry: the existing pods in node which has anti affinity match will get high score",
            plain(s2),
            vec![
                (0, labelled(s1, None, away_s2_az())),
                (1, labelled(s2, None, away_s1_az())),
            ],
            vec![az("az1"), az("az2")],
            vec![0, 100],
        ),
        (
            "Affinity and Anti Affinity: considered only preferredDuringSchedulingIgnoredDuringExecution in both pod affinity & anti affinity",
            with_s1_away_s2(s1),
            vec![(0, plain(s1)), (1, plain(s1))],
            vec![china(), az("az1")],
            vec![100, 0],
        ),
        (
            "Affinity and Anti Affinity: considering both affinity and anti-affinity, the pod to schedule and existing pods have the same labels",
            with_s1_away_s2(s1),
            vec![
                (0, plain(s1)),
                (0, plain(s1)),
                (1, plain(s1)),
                (2, plain(s1)),
                (2, plain(s1)),
                (3, plain(s1)),
                (4, plain(s1)),
            ],
            vec![china_az1(), india(), china(), china(), india()],
            vec![100, 0, 100, 100, 0],
        ),
        (
            "Affinity and Anti Affinity and symmetry: considered only preferredDuringSchedulingIgnoredDuringExecution in both pod affinity & anti affinity & symmetry",
            with_s1_away_s2(s1),
            vec![
                (0, plain(s1)),
                (1, plain(s2)),
                (
                    2,
                    unlabelled(
                        preferred(vec![(
                            8,
                            term(vec![req("security", In, &["S1"])], "region"),
                        )]),
                        away_s2_az(),
                    ),
                ),
                (3, unlabelled(None, away_s1_az())),
            ],
            vec![china(), az("az1"), india(), az("az2")],
            vec![100, 0, 100, 0],
        ),
        (
            "Avoid panic when partial nodes in a topology don't have pods with affinity",
            plain(s1),
            vec![
                (0, plain(s1)),
                (
                    1,
                    unlabelled(
                        preferred(vec![(
                            8,
                            term(vec![req("security", In, &["S1"])], "region"),
                        )]),
                        away_s2_az(),
                    ),
                ),
            ],
            vec![china(), china()],
            vec![0, 0],
        ),
    ];
    assert!(cases.len() >= 10);
    for (case, p, running, nodes, want) in cases {
        let nodes: Vec<FixtureNode> = nodes
            .into_iter()
            .enumerate()
            .map(|(i, mut n)| {
                n.name = format!("node{}", i + 1);
                n.into()
            })
            .collect();
        let mut inst = instance_with_pods(
            "inter-pod-affinity",
            "InterPodAffinity",
            &nodes,
            &running,
            &p,
        );
        let ids: Vec<u32> = (0..nodes.len() as u32).collect();
        let raw = inst.score(&ids).expect("score");
        let got = inst.normalize_score(&ids, &raw).expect("normalize");
        assert_eq!(got, want, "{case}");
    }
}
