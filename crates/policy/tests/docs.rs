//! docs/policy.md explains every lint code, and its examples are real.

use jitgate_policy::{Code, PolicyTests};

const DOC: &str = include_str!("../../../docs/policy.md");

#[test]
fn every_lint_code_is_documented() {
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|code| !DOC.contains(&format!("| `{code}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/policy.md has no table row for {missing:?}"
    );
}

#[test]
fn the_complete_example_lints_and_the_case_examples_parse() {
    let example = DOC
        .split("## A complete example\n\n```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let lint = jitgate_policy::Policy::lint(example);
    let errors: Vec<_> = lint.diagnostics.iter().filter(|d| d.is_error()).collect();
    // The example refers to a `read-only` profile it does not define, to stay short.
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, Code::UnknownProfile);

    let cases = DOC
        .split("## Testing a policy")
        .nth(1)
        .unwrap()
        .split("```yaml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .collect::<Vec<_>>()
        .concat();
    let parsed = PolicyTests::parse(&cases).unwrap();
    assert_eq!(parsed.cases.len(), 5);
}
