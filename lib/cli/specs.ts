// `connlab specs`: the index of every spec by family, with its stable ID, the behavior it checks and its
// file and line, marking those that `connlab check` can point at someone else's implementation.
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('specs')
    .description('list every spec by family: its ID, the behavior it checks, its file and line; * marks those `connlab check` runs against a target')
    .argument('[family]', 'only this family (a folder of specs/, e.g. tcp, balancer)')
    .option('--json', 'print the index as JSON')
    .action(async (family: string | undefined, options) => {
      const { listSpecs } = await import('../check/spec-index.ts');
      const { FAMILIES } = await import('../check/families.ts');
      const checked = new Set(FAMILIES.flatMap((f) => f.files));
      const specs = (await listSpecs()).filter((s) => !family || s.family === family).map((s) => ({ ...s, judgesTargets: checked.has(s.file) && !s.libOnly }));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(specs, null, 2)}\n`);
        return;
      }
      let current = '';
      for (const spec of specs) {
        if (spec.family !== current) {
          current = spec.family;
          process.stdout.write(`${current === specs[0].family ? '' : '\n'}${current}/\n`);
        }
        process.stdout.write(`  ${spec.judgesTargets ? '*' : ' '} ${spec.id.padEnd(16)} ${spec.title}  (${spec.file}:${spec.line})\n`);
      }
      const judging = specs.filter((s) => s.judgesTargets).length;
      process.stdout.write(`\n${specs.length} specs; ${judging} (*) can judge another implementation with \`connlab check\`. Run one family: npx vitest run specs/${family ?? 'tcp'}; one spec: npx vitest run -t ${specs[0]?.id ?? 'ID'}\n`);
    });
}
