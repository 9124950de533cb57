//! Unit tests of `import`.

use super::*;

#[test]
fn default_steps_name_only_known_step_kinds() {
    for step in DEFAULT_STEPS.split(',') {
        let (kind, _) = step.split_once('@').unwrap();
        assert!(["announce", "remind", "final", "escalate"].contains(&kind));
    }
}
