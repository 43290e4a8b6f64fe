// `connlab check FAMILY --target HOST:PORT [declared parameters]`: judges someone else's server, balancer
// or client with the same specs `npm test` runs, like h2spec does for HTTP/2: each spec's ID, its
// requirement and its verdict on stdout, JUnit and JSON for CI, exit 0 when every spec that ran passed,
// 1 when one failed or the target could not be judged, 2 for a usage error.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { FAMILIES, allParameters, familyNamed, type Family, type Parameter } from '../check/families.ts';
import { OptionError } from '../net/options.ts';
import { parseDuration, parseHostPort, parsePort, parseSize } from '../net/units.ts';
import { EXIT_FAILED, EXIT_OK } from './run.ts';

const camel = (flag: string): string => flag.replace(/^--/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** A parameter's value from its flag's text, in base units (ms, bytes, counts). */
function parseParameter(parameter: Parameter, text: string): number | string | number[] {
  switch (parameter.kind) {
    case 'size':
      return parseSize(text);
    case 'duration':
      return parseDuration(text);
    case 'ports':
      return text.split(',').map((port) => parsePort(port.trim()));
    case 'count': {
      if (!/^\d+$/.test(text.trim())) throw new OptionError(parameter.flag, `${parameter.flag} must be a whole number, not "${text}"`);
      return Number(text);
    }
    case 'text':
      return text;
  }
}

const FAMILY_LINES = FAMILIES.map((f) => `  ${f.name.padEnd(12)} ${f.summary}`).join('\n');
const PARAMETER_LINES = FAMILIES.map((f) => `  ${f.name}: ${f.parameters.map((p) => p.flag).join(' ')}`).join('\n');

const HELP = `
Families:
${FAMILY_LINES}

Declared parameters (what the target promises, with the flags connlab's own servers take; a spec that
needs one that was not declared is skipped, saying which flag would let it run):
${PARAMETER_LINES}

Output: each spec's ID, its requirement and passed / FAILED / skipped (with the reason), then
\`N passed, N failed, N skipped\`. Exit status: 0 when every spec that ran passed, 1 when one failed or the
target could not be judged (it is reached once before any spec), 2 for a usage error.

Examples:
  connlab check ack --target 127.0.0.1:5000 --max-line 64KiB --idle-timeout 30s --junit ack.xml
  connlab check balancer --target 127.0.0.1:4000 --backend-ports 5000,5001 --health-interval 200ms --fall 2 --rise 2
  connlab check pool --target 127.0.0.1:1729 --workers 10 --queue 10 --deadline 10s --work 1s
  connlab check http-client --command 'curl -s {url} {url} {url}' --max-sockets 1
  connlab check balancer --list            # the specs, and what each needs declared`;

/** The family's specs from the index, each with what it needs to judge a target. */
async function printList(family: Family): Promise<void> {
  const { listSpecs } = await import('../check/spec-index.ts');
  const specs = (await listSpecs()).filter((s) => family.files.includes(s.file));
  process.stdout.write(`connlab check ${family.name}: ${family.summary}\n`);
  if (family.setup) process.stdout.write(`set-up: ${family.setup}\n`);
  for (const spec of specs) {
    const needs = spec.libOnly ? `lib only: ${spec.libOnly}` : spec.needs.length > 0 ? `needs ${spec.needs.join(' ')}` : 'runs against any target';
    process.stdout.write(`  ${spec.id.padEnd(16)} ${spec.title}\n  ${' '.repeat(16)} ${needs}  (${spec.file}:${spec.line})\n`);
  }
  const judging = specs.filter((s) => !s.libOnly).length;
  process.stdout.write(`${specs.length} specs, ${judging} can judge a target\n`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander's parsed options
function declaredParameters(family: Family, options: Record<string, any>): Record<string, number | string | number[]> {
  const parameters: Record<string, number | string | number[]> = {};
  for (const parameter of allParameters()) {
    const text = options[camel(parameter.flag)] as string | undefined;
    if (text === undefined) continue;
    const own = family.parameters.find((p) => p.flag === parameter.flag);
    if (!own) throw new OptionError(parameter.flag, `${parameter.flag} is not a parameter of the ${family.name} family (its parameters: ${family.parameters.map((p) => p.flag).join(' ')})`);
    parameters[parameter.flag.slice(2)] = parseParameter(own, text);
  }
  const ports = parameters['backend-ports'];
  if (Array.isArray(ports) && ports.length !== 2) {
    throw new OptionError('--backend-ports', `--backend-ports lists the two backends the balancer is configured over, in its order (e.g. 5000,5001), not ${ports.length}`);
  }
  return parameters;
}

export function register(program: Command): void {
  const command = program
    .command('check')
    .description("judge someone else's server, balancer or client with a spec family (ack, pool, prime, balancer, capacity, http-server, http-client)")
    .argument('[family]', 'the family of specs: ' + FAMILIES.map((f) => f.name).join(', '))
    .option('--target <host:port>', 'the server or balancer to judge (families other than http-client)')
    .option('--list', 'list the specs of the family and what each needs declared, and exit')
    .option('--only <ids>', 'only these spec IDs, comma-separated (e.g. TCP-ACK-001,TCP-ACK-010)')
    .option('--junit <file>', 'also write the verdicts as JUnit XML, one testcase per spec')
    .option('--json <file>', 'also write the check result document (kind connlab/check@1)')
    .option('--time-scale <n>', 'stretch every deadline of the specs by this factor on a slow machine or network', '1');
  for (const parameter of allParameters()) command.option(`${parameter.flag} <${parameter.kind === 'ports' ? 'ports' : parameter.kind === 'text' ? 'command' : 'value'}>`, parameter.help);
  command.addHelpText('after', HELP).action(async (name: string | undefined, options) => {
    if (!name) throw new OptionError('FAMILY', `name a family to check: ${FAMILIES.map((f) => f.name).join(', ')} (connlab check --help)`);
    const family = familyNamed(name);
    if (!family) throw new OptionError('FAMILY', `"${name}" is not a family; the families are ${FAMILIES.map((f) => f.name).join(', ')}`);
    if (options.list) return printList(family);
    const parameters = declaredParameters(family, options);
    if (family.judges === 'server' && !options.target) throw new OptionError('--target', `check ${family.name} judges a running server: give --target HOST:PORT`);
    if (family.judges === 'command' && parameters.command === undefined) throw new OptionError('--command', `check ${family.name} judges a client: give --command 'CMD ... {url} ...'`);
    const target = options.target ? parseHostPort(options.target) : undefined;
    const timeScale = Number(options.timeScale);
    if (!(timeScale > 0)) throw new OptionError('--time-scale', `--time-scale must be a number above 0, not ${options.timeScale}`);
    const only = options.only ? String(options.only).split(',').map((id) => id.trim()).filter(Boolean) : undefined;
    await judge(family, { target, parameters, only, timeScale }, options);
  });
}

async function judge(
  family: Family,
  settings: { target?: { host: string; port: number }; parameters: Record<string, number | string | number[]>; only?: string[]; timeScale: number },
  options: { junit?: string; json?: string },
): Promise<void> {
  const { runCheck } = await import('../check/run.ts');
  const { renderVerdict, renderCheckSummary } = await import('../report/text.ts');
  const shown = settings.target ? `${settings.target.host}:${settings.target.port}` : String(settings.parameters.command);
  process.stdout.write(`connlab check ${family.name} against ${shown}\n`);
  const result = await runCheck({ family, ...settings, onVerdict: (verdict) => process.stdout.write(`${renderVerdict(verdict)}\n`) });
  if (result.error) process.stdout.write(`connlab check: ${result.error}\n`);
  else process.stdout.write(`${renderCheckSummary(result.summary)}\n`);
  const ran = result.summary.passed + result.summary.failed;
  if (!result.error && ran === 0) process.stdout.write(`no spec could judge this target: declare what it promises (connlab check ${family.name} --list shows what each spec needs)\n`);
  if (options.json) await writeFile(options.json, `${JSON.stringify(result, null, 2)}\n`);
  if (options.junit) {
    const { renderJunit } = await import('../check/junit.ts');
    await writeFile(options.junit, renderJunit(result));
  }
  process.exitCode = !result.error && ran > 0 && result.summary.failed === 0 ? EXIT_OK : EXIT_FAILED;
}
