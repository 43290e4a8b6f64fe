// A check result as JUnit XML, the format CI systems read (GitLab, Jenkins, GitHub test reporters): one
// testsuite for the family, one testcase per spec named by its ID and requirement, a <failure> with what
// was expected against what was seen, a <skipped> with the reason.
import type { CheckResult } from '../results/check.ts';

const escape = (text: string): string =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // XML 1.0 has no place for most control characters, even escaped.
    // eslint-disable-next-line no-control-regex -- matching them is the point
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

export function renderJunit(result: CheckResult): string {
  const { summary } = result;
  const suite = `connlab check ${result.family}`;
  const cases = result.specs.map((spec) => {
    const open = `    <testcase classname="connlab.${escape(result.family)}" name="${escape(`${spec.id} ${spec.title}`)}" time="${seconds(spec.durationMs)}"`;
    if (spec.status === 'passed') return `${open}/>`;
    if (spec.status === 'skipped') return `${open}>\n      <skipped message="${escape(spec.reason ?? 'skipped')}"/>\n    </testcase>`;
    const message = spec.message ?? 'failed';
    return `${open}>\n      <failure message="${escape(message.split('\n')[0])}">${escape(message)}</failure>\n    </testcase>`;
  });
  // A target that could not be judged is one failing testcase, so CI does not read an empty suite as a pass.
  if (result.error) cases.push(`    <testcase classname="connlab.${escape(result.family)}" name="preflight: the target can be reached" time="0">\n      <error message="${escape(result.error)}"/>\n    </testcase>`);
  const failures = summary.failed;
  const errors = result.error ? 1 : 0;
  const tests = result.specs.length + errors;
  const properties = [
    ['target', result.target],
    ['connlab', result.connlab],
    ['node', result.node],
    ...Object.entries(result.parameters).map(([name, value]) => [`--${name}`, Array.isArray(value) ? value.join(',') : String(value)]),
  ]
    .map(([name, value]) => `      <property name="${escape(name)}" value="${escape(value)}"/>`)
    .join('\n');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${escape(suite)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${summary.skipped}" time="${seconds(result.durationMs)}">`,
    `  <testsuite name="${escape(suite)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${summary.skipped}" time="${seconds(result.durationMs)}" timestamp="${escape(result.startedAt)}">`,
    '    <properties>',
    properties.replace(/^ {6}/gm, '      '),
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
