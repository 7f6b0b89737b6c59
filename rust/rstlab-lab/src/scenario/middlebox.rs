use super::*;

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![]
}
