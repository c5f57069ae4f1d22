export { eventLogContract, type ContractSubject } from './event-log.contract.js';
