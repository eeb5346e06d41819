import { settleHeap } from '../../src/lib/settle-heap.ts';

// A worker thread that settles its heap as the database writer's does, then has nothing left to do (test/unit/settle-heap.test.ts).
await settleHeap();
console.log('worker settled');
