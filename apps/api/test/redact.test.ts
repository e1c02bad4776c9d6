import { describe, expect, it } from 'vitest';
import { redactCommand } from '../src/jumpbox/redact.js';

describe('command lines kept in the audit log', () => {
  it.each([
    ['mysql -uroot -pS3cret! db', 'mysql -uroot -p*** db'],
    ['curl -H "Authorization: Bearer abc.def" https://x', 'curl -H "Authorization: Bearer ***" https://x'],
    ['DB_PASSWORD=hunter2 python app.py', 'DB_PASSWORD=*** python app.py'],
    ['AWS_SECRET_ACCESS_KEY=AKIA/xyz aws s3 ls', 'AWS_SECRET_ACCESS_KEY=*** aws s3 ls'],
    ['tool --password=p4ss --user bob', 'tool --password=*** --user bob'],
    ['tool --token abc123', 'tool --token ***'],
    ['git clone https://bob:pw123@git.example.com/r.git', 'git clone https://bob:***@git.example.com/r.git'],
    ["psql 'password=x1 host=db'", "psql 'password=*** host=db'"],
  ])('hides the secret in %s', (line, kept) => {
    expect(redactCommand(line)).toBe(kept);
  });

  it.each([
    'scp -t /data/',
    'rsync --server -vlogDtpre.iLsfxCIvu . /data/tree/',
    'ssh -p 2026 host',
    'python train.py --epochs 10 --lr 0.001',
    'cat /data/big',
  ])('leaves an ordinary command alone: %s', (line) => {
    expect(redactCommand(line)).toBe(line);
  });
});
